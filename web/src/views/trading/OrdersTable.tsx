import type { Order } from '../../api/types';
import { OPEN_STATUSES } from '../../api/types';
import { DataTable } from '../../components/DataTable';
import type { Column } from '../../components/DataTable';
import { formatDecimal, formatQuantity } from '../../lib/decimal';
import { formatTime } from '../../lib/format';

export function isOpen(order: Order): boolean {
  return OPEN_STATUSES.includes(order.status);
}

export function OrdersTable({ orders, caption, onCancel, cancelDisabledReason }: {
  orders: Order[];
  caption: string;
  onCancel?: (order: Order) => void;
  cancelDisabledReason?: string | null;
}) {
  const columns: Column<Order>[] = [
    { key: 'created', header: 'Created', render: (o) => formatTime(o.createdAt) },
    { key: 'account', header: 'Account', render: (o) => o.accountId },
    { key: 'symbol', header: 'Symbol', render: (o) => o.symbol },
    { key: 'side', header: 'Side', render: (o) => <span className={`side-${o.side}`}>{o.side}</span> },
    { key: 'type', header: 'Type', render: (o) => o.type },
    { key: 'qty', header: 'Quantity', numeric: true, render: (o) => formatQuantity(o.qty) },
    { key: 'filled', header: 'Filled', numeric: true, render: (o) => formatQuantity(o.filledQty) },
    { key: 'price', header: 'Avg price', numeric: true, render: (o) => formatDecimal(o.avgFillPrice ?? o.limitPrice) },
    { key: 'status', header: 'Status', render: (o) => <span title={o.rejectReason ?? undefined}>{o.status}</span> },
  ];
  if (onCancel) {
    columns.push({
      key: 'actions', header: 'Actions', render: (o) => isOpen(o) ? (
        <button type="button" onClick={() => onCancel(o)} disabled={Boolean(cancelDisabledReason)}
          title={cancelDisabledReason ?? undefined} aria-label={`Cancel order ${o.id}`}>Cancel</button>
      ) : null,
    });
  }
  return <DataTable caption={caption} columns={columns} rows={orders} rowKey={(o) => o.id} empty="No orders." testId="orders-table" />;
}
