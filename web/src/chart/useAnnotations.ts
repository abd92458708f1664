import { useCallback } from 'react';
import type { Endpoints } from '../api/endpoints';
import type { AnnotationWrite } from '../api/types';
import { useAsync } from '../lib/useAsync';

/** The signed-in user's annotations on one symbol, saved on the server. */
export function useAnnotations(api: Endpoints, symbol: string) {
  const list = useAsync(() => api.annotations(symbol).then((r) => r.items), [api, symbol]);
  const { reload } = list;
  const create = useCallback(async (shape: AnnotationWrite) => {
    await api.createAnnotation(shape);
    reload();
  }, [api, reload]);
  const remove = useCallback(async (id: string) => {
    await api.deleteAnnotation(id);
    reload();
  }, [api, reload]);
  return { items: list.data ?? [], error: list.error, loading: list.loading, create, remove };
}
