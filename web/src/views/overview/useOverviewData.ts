import { useEffect } from 'react';
import type { Endpoints } from '../../api/endpoints';
import type { LedgerEntry, Order, PositionView } from '../../api/types';
import { useFeedEvents } from '../../events/bus';
import { useAsync } from '../../lib/useAsync';
import type { AccountLedger } from './summary';
import { recentOrders } from './summary';

const LEDGER_PAGES = 5;
const REFRESH_MS = 10_000;

async function readLedger(api: Endpoints, accountId: string): Promise<AccountLedger> {
  const entries: LedgerEntry[] = [];
  let continuation: string | null = null;
  let first: Awaited<ReturnType<Endpoints['ledger']>> | null = null;
  for (let page = 0; page < LEDGER_PAGES; page += 1) {
    const answer = await api.ledger({ accountId, continuation, limit: 200 });
    first ??= answer;
    entries.push(...answer.items);
    continuation = answer.continuation ?? null;
    if (!continuation) break;
  }
  return { accountId, asset: first?.asset ?? null, balance: first?.balance ?? null, entries, complete: continuation === null };
}

export interface OverviewData {
  ledgers: AccountLedger[];
  positions: PositionView[];
  orders: Order[];
}

export function useOverviewData(api: Endpoints, accounts: string[]) {
  const key = accounts.join(',');
  const state = useAsync<OverviewData>(async () => {
    const [ledgers, positions, orderLists] = await Promise.all([
      Promise.all(accounts.map((a) => readLedger(api, a))),
      api.positions().then((r) => r.items),
      Promise.all(accounts.map((a) => api.orders({ accountId: a, limit: 10 }).then((r) => r.items))),
    ]);
    return { ledgers, positions, orders: recentOrders(orderLists, 10) };
  }, [api, key]);
  useFeedEvents(['order.'], state.reload);
  const { reload } = state;
  useEffect(() => {
    const timer = window.setInterval(reload, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);
  return state;
}
