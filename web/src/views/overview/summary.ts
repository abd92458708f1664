import type { LedgerEntry, Order, PositionView } from '../../api/types';
import { addDecimals } from '../../lib/decimal';

export interface AccountLedger {
  accountId: string;
  asset: string | null;
  balance: string | null;
  entries: LedgerEntry[];
  complete: boolean; // false when only the newest pages were read
}

export interface AssetSummary {
  asset: string;
  balance: string;
  unrealized: string;
  equity: string;
  realized: string;
  realizedComplete: boolean;
  unpricedPositions: number;
}

/**
 * Equity = ledger balance (cash + positions at cost) + unrealized PnL (marked to market);
 * realized PnL = the ledger's realized-pnl entries. Exact decimal sums, grouped by asset.
 */
export function summarize(ledgers: AccountLedger[], positions: PositionView[]): AssetSummary[] {
  const byAsset = new Map<string, AssetSummary>();
  for (const ledger of ledgers) {
    const asset = ledger.asset ?? '?';
    const current = byAsset.get(asset) ?? {
      asset, balance: '0', unrealized: '0', equity: '0', realized: '0', realizedComplete: true, unpricedPositions: 0,
    };
    const own = positions.filter((p) => p.accountId === ledger.accountId);
    const priced = own.filter((p) => p.unrealizedPnl !== null).map((p) => p.unrealizedPnl as string);
    const unrealized = addDecimals(...priced);
    const realized = addDecimals(...ledger.entries.filter((e) => e.kind === 'realized-pnl').map((e) => e.amount));
    const balance = ledger.balance ?? '0';
    byAsset.set(asset, {
      asset,
      balance: addDecimals(current.balance, balance),
      unrealized: addDecimals(current.unrealized, unrealized),
      equity: addDecimals(current.equity, balance, unrealized),
      realized: addDecimals(current.realized, realized),
      realizedComplete: current.realizedComplete && ledger.complete,
      unpricedPositions: current.unpricedPositions + (own.length - priced.length),
    });
  }
  return [...byAsset.values()].sort((a, b) => a.asset.localeCompare(b.asset));
}

/** The newest `count` orders across accounts. */
export function recentOrders(lists: Order[][], count: number): Order[] {
  return lists.flat().sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, count);
}
