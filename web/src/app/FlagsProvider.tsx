import { createContext, useContext } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../auth/SessionProvider';
import { useFeedEvents } from '../events/bus';
import { useAsync } from '../lib/useAsync';

const FlagsContext = createContext<Record<string, boolean>>({});

/** Feature flags decide which tabs show; a `flags.changed` event re-reads them. */
export function FlagsProvider({ children }: { children: ReactNode }) {
  const { api, session } = useSession();
  const flags = useAsync(() => api.featureFlags().then((f) => f.flags), [api, session?.token]);
  useFeedEvents(['flags.'], flags.reload);
  return <FlagsContext.Provider value={flags.data ?? {}}>{children}</FlagsContext.Provider>;
}

export function useFlags(): Record<string, boolean> {
  return useContext(FlagsContext);
}

/** Known tabs are on unless a flag turns them off. */
export function flagOn(flags: Record<string, boolean>, name: string | undefined): boolean {
  return name === undefined || flags[name] !== false;
}
