/** Shapes of the Halyard API (see GET /api/openapi.json). Money and quantities are decimal strings. */

export type Role = 'viewer' | 'trader' | 'operator' | 'admin';

export interface Me {
  userId: string;
  tenantId: string;
  displayName: string;
  role: Role;
  roles: Role[];
}

export interface Paged<T> {
  items: T[];
  continuation?: string | null;
}

export interface ControlFlag {
  active: boolean;
  reason?: string | null;
  actor?: string | null;
  since?: string | null;
  until?: string | null;
}

export interface ProductStatus {
  state: 'operational' | 'maintenance' | 'disabled' | 'unknown';
  productDisabled: boolean;
  killSwitch?: ControlFlag | null;
  maintenance?: ControlFlag | null;
  globalHalt?: ControlFlag | null;
  tradingAllowed: boolean;
  detail?: string;
}

export interface Control {
  id: string; // "halt" | "kill-switch" | "maintenance"
  scope: string; // "product" | "global" | "tenant:<id>" | "profile:<id>"
  kind: 'kill-switch' | 'maintenance' | 'halt';
  active: boolean;
  reason: string;
  actor: string;
  automatic: boolean;
  since: string | null;
  until: string | null;
  version: number;
  requestId?: string | null;
  etag?: string;
}

export interface FeedEvent {
  id: string;
  stream: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  at: string;
  requestId: string | null;
}

export interface EventsPage {
  items: FeedEvent[];
  cursor: string;
}

export interface Instrument {
  exchange: string;
  symbol: string;
  base: string;
  quote: string;
  tickSize: string;
  lotSize: string;
  minQty: string;
  minNotional: string;
  status: 'trading' | 'halted' | 'delisted';
}

export interface Ticker {
  symbol: string;
  lastPrice: string;
  change24HPct: number;
  volume24H: number;
  at: string;
}

export interface Candle {
  openTime: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface CandlesOut {
  symbol: string;
  interval: string;
  items: Candle[];
}

export interface IndicatorOut {
  symbol: string;
  interval: string;
  name: string;
  params: Record<string, number>;
  time: string[];
  values: Record<string, (number | null)[]>;
}

export type OrderStatus =
  | 'pending-submit' | 'new' | 'partially-filled' | 'filled' | 'canceled' | 'rejected' | 'expired';

export interface Order {
  id: string;
  tenantId: string;
  accountId: string;
  profileId: string | null;
  symbol: string;
  side: 'buy' | 'sell';
  type: 'market' | 'limit';
  qty: string;
  limitPrice: string | null;
  status: OrderStatus;
  exchange: string;
  filledQty: string;
  avgFillPrice: string | null;
  fees: string;
  rejectReason: string | null;
  createdAt: string;
  updatedAt?: string;
}

export const OPEN_STATUSES: readonly OrderStatus[] = ['pending-submit', 'new', 'partially-filled'];

export interface Fill {
  id: string;
  orderId: string;
  accountId: string;
  symbol: string;
  side: 'buy' | 'sell';
  price: string;
  qty: string;
  fee: string;
  feeAsset: string;
  liquidity: 'maker' | 'taker';
  at: string;
}

export interface PositionView {
  accountId: string;
  symbol: string;
  qty: string;
  avgCost: string;
  realizedPnl: string;
  feesPaid: string;
  updatedAt: string | null;
  markPrice: string | null;
  unrealizedPnl: string | null;
  marketValue: string | null;
}

export interface LedgerEntry {
  id: string;
  accountId: string;
  kind: 'deposit' | 'withdrawal' | 'fee' | 'realized-pnl';
  asset: string;
  amount: string;
  ref: string | null;
  at: string;
}

export interface LedgerPage extends Paged<LedgerEntry> {
  accountId: string | null;
  balance: string | null;
  asset: string | null;
}

export interface RuleVerdict {
  rule: string;
  outcome: 'pass' | 'block' | 'neutral';
  direction: 'long' | 'short' | 'flat' | null;
  reason: string;
  values: Record<string, number | string | boolean | null>;
}

export interface Decision {
  id: string;
  profileId: string;
  accountId: string;
  symbol: string;
  interval: string;
  candleTime: string;
  strategyId: string;
  strategyVersion: number;
  action: 'buy' | 'sell' | 'hold' | 'blocked';
  blockedBy: string | null;
  verdicts: RuleVerdict[];
  intentId: string | null;
  createdAt: string;
}

export interface RiskLimits {
  maxPositionNotional: string | number;
  exposureCapNotional: string | number;
  maxOpenOrders: number;
  dailyLossLimit: string | number;
  riskPerTradePct: string | number;
  haltCooldownMinutes: number;
}

export interface Profile {
  id: string;
  tenantId: string;
  accountId: string;
  name: string;
  exchange: string;
  mode: string;
  symbols: string[];
  interval: string;
  strategyId: string;
  strategyVersion: number;
  risk: RiskLimits;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  etag?: string;
}

export interface StrategyHead {
  strategyId: string;
  tenantId: string;
  name: string;
  strategyKind: string;
  activeVersion: number;
  previousVersion: number | null;
  latestVersion: number;
  updatedAt: string;
  updatedBy: string;
}

export interface StrategyVersion {
  strategyId: string;
  version: number;
  params: Record<string, unknown>;
  createdAt: string;
  createdBy: string;
  note: string;
}

export interface ProposalHistoryStep {
  status: string;
  at: string;
  actor: string;
  detail: string;
}

export interface Gates {
  minReturnEdge: number | null;
  maxDrawdown: number | null;
  minTrades: number | null;
  minFoldShare?: number | null;
  maxOverfitGap?: number | null;
}

export interface Proposal {
  id: string;
  strategyId: string;
  version: number;
  baseVersion: number;
  params: Record<string, unknown>;
  source: string;
  suggestionId: string | null;
  proposedBy: string;
  proposedAt: string;
  note: string;
  gates: Gates;
  status: string; // proposed | simulating | awaiting-decision | approved | rejected | expired | failed ...
  simulationRunId: string | null;
  verdict: { passed: boolean; verdict: string; reasons: string[] } | null;
  decidedBy: string | null;
  decisionReason: string | null;
  expiresAt: string | null;
  history: ProposalHistoryStep[];
}

export interface StrategyDetail extends StrategyHead {
  versions: StrategyVersion[];
  proposals: Proposal[];
}

export interface AiSuggestion {
  id: string;
  strategyId: string;
  source: string;
  status: string;
  reasons: string[];
  baseVersion: number;
  baseParams: Record<string, unknown>;
  proposedParams: Record<string, unknown> | null;
  deltas: Record<string, number> | null;
  rationale: string | null;
  confidence: number | null;
  risks: string[];
  model: string | null;
  createdAt?: string;
}

export interface EquityPoint {
  at: string;
  equity: number;
}

export interface SimMetrics {
  netReturn: number;
  maxDrawdown: number;
  winRate: number | null;
  sharpe: number | null;
  tradeCount: number;
  profitFactor: number | null;
  finalEquity: string;
  feesPaid: string;
}

export interface SimSegment {
  label: string;
  start: string;
  end: string;
  metrics: SimMetrics;
  equityCurve: EquityPoint[];
}

export interface SimSide {
  params: Record<string, unknown>;
  version: number | null;
  inSample: SimSegment;
  outOfSample: SimSegment;
}

export interface SimulationRun {
  runId: string;
  strategyId: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | string;
  progress: { barsDone: number; barsTotal: number; percent: number } | null;
  result: {
    baseline: SimSide;
    candidate: SimSide;
    report: { verdict: string; reasons: string[] };
  } | null;
  error: string | null;
}

export interface AuditEntry {
  id: string;
  seq: number;
  action: string;
  actor: string;
  target: string;
  details: Record<string, unknown>;
  requestId: string | null;
  at: string;
  hash: string;
}

export interface ReconciliationRun {
  id: string;
  accountId: string;
  trigger: 'timer' | 'operator';
  actor: string;
  status: 'running' | 'clean' | 'repaired' | 'unresolved' | 'halted' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  matchRatio: number | null;
  counts: Record<string, number>;
  drifts: { kind: string; safe: boolean; summary: string }[];
  error: string | null;
}

export type ShapeType = 'trend-line' | 'rectangle' | 'text';

export interface ChartPoint {
  time: string; // ISO UTC
  price: number;
}

export interface ShapeStyle {
  color: string;
  lineWidth: number;
  lineStyle: 'solid' | 'dashed' | 'dotted';
  fill: string | null;
}

export interface AnnotationWrite {
  symbol: string;
  shapeType: ShapeType;
  points: ChartPoint[];
  style: ShapeStyle;
  label: string;
}

export interface Annotation extends AnnotationWrite {
  id: string;
  userId?: string;
  createdAt?: string;
}
