import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiClient } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { Endpoints } from '../api/endpoints';
import { navigate } from '../router/router';
import { clearSession, loadSession, saveSession, sessionFromToken } from './session';
import type { Session } from './session';

export type SignOutReason = 'signed-out' | 'expired';

interface SessionContextValue {
  session: Session | null;
  api: Endpoints;
  signIn: (token: string, source: Session['source'], expiresAt?: number) => Session;
  signOut: (reason: SignOutReason) => void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/** Longest timeout a browser keeps (about 24.8 days). */
const MAX_TIMEOUT = 2_147_483_647;

export function signInPath(reason: SignOutReason | null, returnTo: string): string {
  const params = new URLSearchParams();
  if (reason === 'expired') params.set('expired', '1');
  if (returnTo && returnTo !== '/') params.set('returnTo', returnTo);
  const qs = params.toString();
  return `/sign-in${qs ? `?${qs}` : ''}`;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const tokenRef = useRef<string | null>(session?.token ?? null);
  tokenRef.current = session?.token ?? null;

  const signOut = useCallback((reason: SignOutReason) => {
    clearSession();
    setSession(null);
    tokenRef.current = null;
    const here = `${window.location.pathname}${window.location.search}`;
    const returnTo = window.location.pathname.startsWith('/sign-in') ? '/' : here;
    navigate(signInPath(reason, reason === 'expired' ? returnTo : '/'), { replace: true });
  }, []);

  const signIn = useCallback((token: string, source: Session['source'], expiresAt?: number) => {
    const next = sessionFromToken(token, source, expiresAt);
    saveSession(next);
    tokenRef.current = next.token;
    setSession(next);
    return next;
  }, []);

  // Expiry sends the user back to sign-in, remembering the page they were on.
  useEffect(() => {
    if (!session) return undefined;
    const timer = window.setTimeout(() => signOut('expired'), Math.min(Math.max(session.expiresAt - Date.now(), 0), MAX_TIMEOUT));
    return () => window.clearTimeout(timer);
  }, [session, signOut]);

  // Another tab signing out (or in) applies here too.
  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (event.key === null || event.key === 'halyard.session') setSession(loadSession());
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  const api = useMemo(() => endpoints(new ApiClient({
    getToken: () => tokenRef.current,
    onUnauthorized: () => { if (tokenRef.current) signOut('expired'); },
  })), [signOut]);

  const value = useMemo(() => ({ session, api, signIn, signOut }), [session, api, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

export function useApi(): Endpoints {
  return useSession().api;
}

/** For components that render only when signed in. */
export function useSignedIn(): Session {
  const { session } = useSession();
  if (!session) throw new Error('useSignedIn without a session');
  return session;
}
