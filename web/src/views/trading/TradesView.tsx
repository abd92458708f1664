import { useId } from 'react';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { useApi } from '../../auth/SessionProvider';
import { AccountSelect, pickAccount } from '../../components/AccountSelect';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Pager } from '../../components/Pager';
import { usePaged } from '../../lib/paging';
import { useSearchParam } from '../../router/router';
import { FillsTable } from './FillsTable';

export function TradesView() {
  const api = useApi();
  const { accounts } = useWorkspace();
  const [wanted, setAccount] = useSearchParam('account');
  const [symbol, setSymbol] = useSearchParam('symbol');
  const account = pickAccount(accounts, wanted);
  const symbolId = useId();
  const validSymbol = symbol && /^[A-Za-z0-9]{2,30}$/.test(symbol) ? symbol.toUpperCase() : undefined;
  const fills = usePaged((continuation) => account
    ? api.trades({ accountId: account, symbol: validSymbol, continuation, limit: 25 })
    : Promise.resolve({ items: [], continuation: null }), [api, account, validSymbol]);
  return (
    <section aria-labelledby="trades-heading">
      <h1 id="trades-heading">Trade history</h1>
      <div className="toolbar">
        <AccountSelect accounts={accounts} value={account} onChange={setAccount} />
        <div className="field inline">
          <label htmlFor={symbolId}>Symbol</label>
          <input id={symbolId} value={symbol ?? ''} placeholder="all" onChange={(e) => setSymbol(e.target.value)} size={12} />
        </div>
      </div>
      <ErrorNotice error={fills.error} action="Loading fills" />
      <FillsTable fills={fills.items} caption={`Fills of ${account || 'no account'}, newest first`} />
      <Pager label="Fills" page={fills.page} hasPrevious={fills.hasPrevious} hasNext={fills.hasNext}
        onPrevious={fills.previous} onNext={fills.next} />
    </section>
  );
}
