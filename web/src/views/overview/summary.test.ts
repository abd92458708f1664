import { describe, expect, it } from 'vitest';
import type { LedgerEntry, Order, PositionView } from '../../api/types';
import { recentOrders, summarize } from './summary';

const entry = (kind: LedgerEntry['kind'], amount: string): LedgerEntry => ({ id: `${kind}${amount}`, accountId: 'a1', kind, asset: 'USDT', amount, ref: null, at: '' });
const position = (accountId: string, unrealizedPnl: string | null): PositionView => ({
  accountId, symbol: 'BTCUSDT', qty: '0.287401', avgCost: '27562.82', realizedPnl: '0', feesPaid: '7.92', updatedAt: null,
  markPrice: unrealizedPnl === null ? null : '27615.3', unrealizedPnl, marketValue: null,
});

describe('overview figures', () => {
  it('computes equity as ledger balance plus unrealized PnL, exactly, per asset', () => {
    const summary = summarize([
      { accountId: 'a1', asset: 'USDT', balance: '9992.07841796918', entries: [entry('deposit', '10000'), entry('fee', '-7.92158203082'), entry('realized-pnl', '12.5'), entry('realized-pnl', '-2.25')], complete: true },
      { accountId: 'a2', asset: 'USDT', balance: '10000', entries: [], complete: false },
    ], [position('a1', '15.08280448'), position('a2', null), position('other', '99')]);
    expect(summary).toEqual([{
      asset: 'USDT', balance: '19992.07841796918', unrealized: '15.08280448', equity: '20007.16122244918',
      realized: '10.25', realizedComplete: false, unpricedPositions: 1,
    }]);
  });

  it('lists the newest orders across accounts', () => {
    const order = (id: string, createdAt: string) => ({ id, createdAt }) as Order;
    expect(recentOrders([[order('a', '2023-01-02'), order('b', '2023-01-01')], [order('c', '2023-01-03')]], 2).map((o) => o.id)).toEqual(['c', 'a']);
  });
});
