import type { ApiClient, ApiResult } from './client';
import type {
  AiSuggestion, Annotation, AnnotationWrite, AuditEntry, CandlesOut, Control, Decision, EventsPage, Fill,
  Gates, IndicatorOut, Instrument, LedgerPage, Me, Order, Paged, PositionView, ProductStatus, Profile,
  ReconciliationRun, SimulationRun, StrategyDetail, StrategyHead, Ticker,
} from './types';

const enc = encodeURIComponent;

export type ControlTarget =
  | { kind: 'kill-switch' }
  | { kind: 'maintenance' }
  | { kind: 'global-halt' }
  | { kind: 'tenant-halt' }
  | { kind: 'profile-halt'; profileId: string };

export function controlPath(target: ControlTarget): string {
  return target.kind === 'profile-halt'
    ? `/api/admin/controls/profiles/${enc(target.profileId)}/halt`
    : `/api/admin/controls/${target.kind}`;
}

export interface ControlChange {
  active: boolean;
  reason: string;
  until?: string | null;
}

/** Every call the dashboard makes, typed. */
export function endpoints(api: ApiClient) {
  return {
    productStatus: (signal?: AbortSignal) =>
      api.get<ProductStatus>('/api/product/status', { anonymous: true, signal }),
    me: () => api.get<Me>('/api/me'),
    featureFlags: () => api.get<{ flags: Record<string, boolean> }>('/api/feature-flags'),
    events: (after: string | null, wait: number, signal?: AbortSignal) =>
      api.get<EventsPage>('/api/v1/events', { query: { after, wait: after ? wait : undefined }, signal }),

    symbols: () => api.get<{ items: Instrument[] }>('/api/v1/symbols'),
    tickers: (symbols: string[]) =>
      api.get<{ items: Ticker[]; missing: string[] }>('/api/v1/tickers', { query: { symbols: symbols.join(',') } }),
    candles: (symbol: string, interval: string, limit: number) =>
      api.get<CandlesOut>('/api/v1/candles', { query: { symbol, interval, limit } }),
    indicator: (symbol: string, interval: string, limit: number, name: string, params = '') =>
      api.get<IndicatorOut>('/api/v1/indicators', { query: { symbol, interval, limit, name, params } }),

    orders: (q: { accountId: string; status?: string; continuation?: string | null; limit?: number }) =>
      api.get<Paged<Order>>('/api/v1/orders', { query: q }),
    cancelOrder: (orderId: string) => api.post<unknown>(`/api/v1/orders/${enc(orderId)}/cancel`),
    trades: (q: { accountId: string; symbol?: string; continuation?: string | null; limit?: number }) =>
      api.get<Paged<Fill>>('/api/v1/trades', { query: q }),
    ledger: (q: { accountId: string; continuation?: string | null; limit?: number }) =>
      api.get<LedgerPage>('/api/v1/ledger', { query: q }),
    positions: () => api.get<{ items: PositionView[] }>('/api/v1/positions'),
    decisions: (q: { profileId: string; action?: string; blockedBy?: string; continuation?: string | null; limit?: number }) =>
      api.get<Paged<Decision>>('/api/v1/decisions', { query: q }),

    profiles: () => api.get<{ items: Profile[] }>('/api/v1/profiles'),
    profile: (id: string) => api.request<Profile>('GET', `/api/v1/profiles/${enc(id)}`),
    replaceProfile: (id: string, body: Record<string, unknown>, etag: string) =>
      api.request<Profile>('PUT', `/api/v1/profiles/${enc(id)}`, { body, headers: { 'if-match': etag } }),

    strategies: () => api.get<Paged<StrategyHead>>('/api/v1/strategies'),
    strategy: (id: string) => api.get<StrategyDetail>(`/api/v1/strategies/${enc(id)}`),
    review: (id: string, body: { note?: string; gates?: Partial<Gates> }) =>
      api.post<{ instanceId: string; status: string }>(`/api/v1/strategies/${enc(id)}/review`, body),
    simulate: (id: string, candidateVersion: number, baselineVersion?: number | null) =>
      api.post<{ runId?: string; id?: string }>(`/api/v1/strategies/${enc(id)}/simulate`, { candidateVersion, baselineVersion: baselineVersion ?? null }),
    simulation: (runId: string) => api.get<SimulationRun>(`/api/v1/simulations/${enc(runId)}`),
    decideVersion: (id: string, version: number, decision: 'approve' | 'reject', reason: string) =>
      api.post<{ accepted: boolean }>(`/api/v1/strategies/${enc(id)}/versions/${version}/${decision}`, { reason }),
    rollback: (id: string, reason: string) => api.post<StrategyHead>(`/api/v1/strategies/${enc(id)}/rollback`, { reason }),
    suggestions: (strategyId: string) => api.get<Paged<AiSuggestion>>('/api/v1/ai-suggestions', { query: { strategyId } }),

    controls: () => api.get<{ items: Control[] }>('/api/admin/controls'),
    /** The controls that gate the caller's surfaces (any role): product, global, own tenant and profiles. */
    visibleControls: () => api.get<{ items: Control[] }>('/api/v1/controls'),
    setControl: (target: ControlTarget, change: ControlChange, etag: string | null): Promise<ApiResult<Control>> =>
      api.request<Control>('PUT', controlPath(target), { body: change, headers: etag ? { 'if-match': etag } : {} }),
    audit: (continuation?: string | null) =>
      api.get<Paged<AuditEntry>>('/api/admin/audit', { query: { continuation, limit: 50 } }),
    reconciliation: (accountId: string, continuation?: string | null) =>
      api.get<Paged<ReconciliationRun>>('/api/admin/reconciliation', { query: { accountId, continuation, limit: 20 } }),
    runReconciliation: (accountId: string) =>
      api.post<{ id: string; accountId: string; status: string }>('/api/admin/reconciliation/run', { accountId }),

    annotations: (symbol: string) => api.get<Paged<Annotation>>('/api/v1/annotations', { query: { symbol } }),
    createAnnotation: (body: AnnotationWrite) => api.post<Annotation>('/api/v1/annotations', body),
    deleteAnnotation: (id: string) => api.request<null>('DELETE', `/api/v1/annotations/${enc(id)}`),
  };
}

export type Endpoints = ReturnType<typeof endpoints>;
