import { useId, useState } from 'react';
import type { Order } from '../../api/types';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { hasRole } from '../../auth/session';
import { useApi, useSignedIn } from '../../auth/SessionProvider';
import { AccountSelect, pickAccount } from '../../components/AccountSelect';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Pager } from '../../components/Pager';
import { useFeedEvents } from '../../events/bus';
import { useGate } from '../../gates/GateProvider';
import { formatQuantity } from '../../lib/decimal';
import { usePaged } from '../../lib/paging';
import { useSearchParam } from '../../router/router';
import { OrdersTable } from './OrdersTable';

const STATUSES = ['', 'open', 'filled', 'canceled', 'rejected', 'expired'] as const;

export function cancelBlockedReason(role: boolean, readOnly: boolean): string | null {
  if (!role) return 'Cancelling needs the trader role.';
  if (readOnly) return 'Maintenance: the dashboard is read-only.';
  return null;
}

export function OrdersView() {
  const api = useApi();
  const session = useSignedIn();
  const { accounts } = useWorkspace();
  const { readOnly } = useGate();
  const [wanted, setAccount] = useSearchParam('account');
  const [status, setStatus] = useSearchParam('status');
  const account = pickAccount(accounts, wanted);
  const statusId = useId();
  const [cancelling, setCancelling] = useState<Order | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const orders = usePaged((continuation) => account
    ? api.orders({ accountId: account, status: status ?? undefined, continuation, limit: 25 })
    : Promise.resolve({ items: [], continuation: null }), [api, account, status]);
  useFeedEvents(['order.'], orders.reload);

  return (
    <section aria-labelledby="orders-heading">
      <h1 id="orders-heading">Orders</h1>
      <div className="toolbar">
        <AccountSelect accounts={accounts} value={account} onChange={setAccount} />
        <div className="field inline">
          <label htmlFor={statusId}>Status</label>
          <select id={statusId} value={status ?? ''} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => <option key={s} value={s}>{s || 'any'}</option>)}
          </select>
        </div>
      </div>
      {notice && <p role="status" className="notice">{notice}</p>}
      <ErrorNotice error={orders.error} action="Loading orders" />
      <OrdersTable orders={orders.items} caption={`Orders of ${account || 'no account'}, newest first`}
        onCancel={setCancelling} cancelDisabledReason={cancelBlockedReason(hasRole(session, 'trader'), readOnly)} />
      <Pager label="Orders" page={orders.page} hasPrevious={orders.hasPrevious} hasNext={orders.hasNext}
        onPrevious={orders.previous} onNext={orders.next} />
      {cancelling && (
        <ConfirmDialog title="Cancel this order?" confirmLabel="Cancel order" danger onClose={() => setCancelling(null)}
          onConfirm={async () => {
            await api.cancelOrder(cancelling.id);
            setNotice(`Cancel requested for order ${cancelling.id}; the table updates when the exchange confirms.`);
            orders.reload();
          }}>
          <p>
            {cancelling.side} {formatQuantity(cancelling.qty)} {cancelling.symbol} ({cancelling.type}), order <code>{cancelling.id}</code>.
            The cancel is sent to the exchange; a fill that already happened stays.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
