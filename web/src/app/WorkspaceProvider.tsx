import { createContext, useContext, useMemo } from 'react';
import type { ReactNode } from 'react';
import type { Profile } from '../api/types';
import { useApi } from '../auth/SessionProvider';
import { useFeedEvents } from '../events/bus';
import { useAsync } from '../lib/useAsync';

/** The caller's tenant's profiles, and the accounts they trade (most lists are per account). */
export interface Workspace {
  profiles: Profile[];
  accounts: string[];
  loading: boolean;
  error: unknown;
  reload: () => void;
}

const WorkspaceContext = createContext<Workspace>({ profiles: [], accounts: [], loading: true, error: null, reload: () => undefined });

export function accountsOf(profiles: readonly Profile[]): string[] {
  return [...new Set(profiles.map((p) => p.accountId))].sort();
}

export function WorkspaceProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const profiles = useAsync(() => api.profiles().then((r) => r.items), [api]);
  useFeedEvents(['profile.'], profiles.reload);
  const value = useMemo<Workspace>(() => {
    const items = profiles.data ?? [];
    return { profiles: items, accounts: accountsOf(items), loading: profiles.loading, error: profiles.error, reload: profiles.reload };
  }, [profiles.data, profiles.loading, profiles.error, profiles.reload]);
  return <WorkspaceContext.Provider value={value}>{children}</WorkspaceContext.Provider>;
}

export function useWorkspace(): Workspace {
  return useContext(WorkspaceContext);
}
