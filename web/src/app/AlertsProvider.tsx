import { createContext, useCallback, useContext, useState } from 'react';
import type { ReactNode } from 'react';
import type { FeedEvent } from '../api/types';
import { useFeedEvents } from '../events/bus';

/** Notable feed events since sign-in (halts, rejections, reconciliation, strategy changes), newest first. */
export interface Alert {
  id: string;
  at: string;
  severity: 'info' | 'warning' | 'critical';
  text: string;
  requestId: string | null;
}

const MAX_ALERTS = 20;
const AlertsContext = createContext<Alert[]>([]);

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}

export function alertFromEvent(event: FeedEvent): Alert | null {
  const d = event.data;
  const base = { id: event.id, at: event.at, requestId: event.requestId };
  if (event.type === 'control.changed') {
    const what = str(d.kind) === 'halt' ? `Trading halt (${str(d.scope)})` : str(d.kind);
    return { ...base, severity: d.active ? 'critical' : 'info',
      text: `${what} ${d.active ? 'set' : 'cleared'} by ${str(d.actor) || 'unknown'}${d.reason ? `: ${str(d.reason)}` : ''}` };
  }
  if (event.type === 'order.updated' && (d.status === 'rejected' || d.outcome === 'rejected')) {
    return { ...base, severity: 'warning', text: `Order ${str(d.id)} ${str(d.side)} ${str(d.symbol)} rejected: ${str(d.rejectReason) || 'no reason given'}` };
  }
  if (event.type === 'reconciliation.completed') {
    return { ...base, severity: d.status === 'clean' ? 'info' : 'warning', text: `Reconciliation of ${str(d.accountId)}: ${str(d.status)}` };
  }
  if (event.type.startsWith('strategy.')) {
    return { ...base, severity: 'info', text: `${event.type.replace('strategy.', 'Strategy ')}: ${str(d.strategyId)}${d.version ? ` v${str(d.version)}` : ''}` };
  }
  return null;
}

export function AlertsProvider({ children }: { children: ReactNode }) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const onEvent = useCallback((event: FeedEvent) => {
    const alert = alertFromEvent(event);
    if (alert) setAlerts((list) => [alert, ...list.filter((a) => a.id !== alert.id)].slice(0, MAX_ALERTS));
  }, []);
  useFeedEvents(['control.', 'order.', 'reconciliation.', 'strategy.'], onEvent);
  return <AlertsContext.Provider value={alerts}>{children}</AlertsContext.Provider>;
}

export function useAlerts(): Alert[] {
  return useContext(AlertsContext);
}
