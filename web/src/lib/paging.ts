import { useCallback, useState } from 'react';
import type { Paged } from '../api/types';
import { useAsync } from './useAsync';

/**
 * Pages over continuation tokens: `tokens[i]` is what fetches page i+1 (null for the
 * first). Next pushes the current answer's continuation; previous pops.
 */
export interface PagingState {
  tokens: (string | null)[];
}

export const firstPage: PagingState = { tokens: [null] };

export function nextPage(state: PagingState, continuation: string | null | undefined): PagingState {
  return continuation ? { tokens: [...state.tokens, continuation] } : state;
}

export function previousPage(state: PagingState): PagingState {
  return state.tokens.length > 1 ? { tokens: state.tokens.slice(0, -1) } : state;
}

export function currentToken(state: PagingState): string | null {
  return state.tokens[state.tokens.length - 1] ?? null;
}

export function usePaged<T>(fetchPage: (continuation: string | null) => Promise<Paged<T>>, deps: readonly unknown[]) {
  // A new query (other account, filter) starts at page 1 again: paging is kept per query key.
  const key = JSON.stringify(deps);
  const [stored, setStored] = useState<{ key: string; paging: PagingState }>({ key, paging: firstPage });
  const paging = stored.key === key ? stored.paging : firstPage;
  const token = currentToken(paging);
  const state = useAsync(() => fetchPage(token), [key, token]);
  const continuation = state.data?.continuation ?? null;
  const update = useCallback((change: (p: PagingState) => PagingState) => {
    setStored((s) => ({ key, paging: change(s.key === key ? s.paging : firstPage) }));
  }, [key]);
  return {
    ...state,
    items: state.data?.items ?? [],
    page: paging.tokens.length,
    hasPrevious: paging.tokens.length > 1,
    hasNext: Boolean(continuation),
    next: useCallback(() => update((p) => nextPage(p, continuation)), [update, continuation]),
    previous: useCallback(() => update(previousPage), [update]),
  };
}
