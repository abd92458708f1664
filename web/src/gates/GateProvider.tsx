import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { endpoints } from '../api/endpoints';
import { ApiClient } from '../api/client';
import type { Control, FeedEvent } from '../api/types';
import { useSession } from '../auth/SessionProvider';
import { EventBus, EventBusContext } from '../events/bus';
import { EventFeed } from '../events/feed';
import type { FeedStatus } from '../events/feed';
import { activeHalts, applyControl, applyStatus, initialGate, isControl, maintenance, productDisabled } from './gateState';
import type { ControlInfo, GateState } from './gateState';

export interface GateView {
  loaded: boolean;
  state: GateState;
  disabled: boolean;
  maintenance: ControlInfo | null;
  halts: ControlInfo[];
  /** Surfaces are read-only in maintenance (admins keep the admin controls). */
  readOnly: boolean;
  feed: FeedStatus;
  refresh: () => Promise<void>;
}

const GateContext = createContext<GateView | null>(null);
const SIGNED_OUT_POLL_MS = 3000;
const RESYNC_MS = 15000;

const publicApi = endpoints(new ApiClient({ getToken: () => null }));

export function GateProvider({ children }: { children: ReactNode }) {
  const { session, api } = useSession();
  const [state, setState] = useState<GateState>(initialGate);
  const [loaded, setLoaded] = useState(false);
  const [feed, setFeed] = useState<FeedStatus>('stopped');
  const bus = useMemo(() => new EventBus(), []);
  const sessionKey = session ? `${session.tenantId}/${session.userId}/${session.token.slice(-12)}` : null;
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const refresh = useCallback(async () => {
    const status = await publicApi.productStatus();
    let next = (s: GateState) => applyStatus(s, status);
    if (sessionRef.current && !status.productDisabled) {
      try {
        const { items } = await api.visibleControls();
        next = (s: GateState) => items.reduce(applyControl, applyStatus(s, status));
      } catch {
        // the public status above still holds; the feed brings later changes
      }
    }
    setState((s) => next(s));
    setLoaded(true);
  }, [api]);

  // Signed in: follow the event feed. Signed out: poll the public status.
  useEffect(() => {
    if (!sessionKey) {
      let stop = false;
      const tick = async () => {
        try { await refresh(); } catch { setState((s) => ({ ...s, known: false })); setLoaded(true); }
        if (!stop) timer = window.setTimeout(tick, SIGNED_OUT_POLL_MS);
      };
      let timer = window.setTimeout(tick, 0);
      return () => { stop = true; window.clearTimeout(timer); };
    }
    const eventsFeed = new EventFeed({
      fetchEvents: (after, wait, signal) => api.events(after, wait, signal),
      resync: async () => {
        await refresh();
      },
      onEvent: (event: FeedEvent) => {
        if (event.type === 'control.changed' && isControl(event.data)) setState((s) => applyControl(s, event.data as unknown as Control));
        bus.emit(event);
      },
      onProductDisabled: () => {
        publicApi.productStatus().then((status) => { setState((s) => applyStatus(s, status)); setLoaded(true); }, () => undefined);
      },
      onStatus: setFeed,
    });
    void eventsFeed.run();
    return () => eventsFeed.stop();
  }, [sessionKey, api, bus, refresh]);

  // A control may end by its own `until` (no event says so): re-read now and then.
  useEffect(() => {
    if (!sessionKey) return undefined;
    const timer = window.setInterval(() => { refresh().catch(() => undefined); }, RESYNC_MS);
    return () => window.clearInterval(timer);
  }, [sessionKey, refresh]);

  const view = useMemo<GateView>(() => {
    const maint = maintenance(state);
    return {
      loaded, state, feed, refresh,
      disabled: loaded && productDisabled(state),
      maintenance: maint,
      halts: activeHalts(state),
      readOnly: maint !== null,
    };
  }, [loaded, state, feed, refresh]);

  return (
    <GateContext.Provider value={view}>
      <EventBusContext.Provider value={bus}>{children}</EventBusContext.Provider>
    </GateContext.Provider>
  );
}

export function useGate(): GateView {
  const value = useContext(GateContext);
  if (!value) throw new Error('useGate outside GateProvider');
  return value;
}
