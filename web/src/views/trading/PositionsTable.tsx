import type { PositionView } from '../../api/types';
import { DataTable } from '../../components/DataTable';
import { formatDecimal, formatQuantity } from '../../lib/decimal';
import { formatTime } from '../../lib/format';

export function PositionsTable({ positions, caption }: { positions: PositionView[]; caption: string }) {
  return (
    <DataTable caption={caption} testId="positions-table" rows={positions} rowKey={(p) => `${p.accountId}/${p.symbol}`}
      empty="No open positions."
      columns={[
        { key: 'account', header: 'Account', render: (p) => p.accountId },
        { key: 'symbol', header: 'Symbol', render: (p) => p.symbol },
        { key: 'qty', header: 'Quantity', numeric: true, render: (p) => <span data-testid="position-qty">{formatQuantity(p.qty)}</span> },
        { key: 'avg', header: 'Avg cost', numeric: true, render: (p) => formatDecimal(p.avgCost) },
        { key: 'mark', header: 'Mark', numeric: true, render: (p) => formatDecimal(p.markPrice) },
        { key: 'value', header: 'Market value', numeric: true, render: (p) => formatDecimal(p.marketValue) },
        { key: 'upnl', header: 'Unrealized PnL', numeric: true, render: (p) => formatDecimal(p.unrealizedPnl, { signed: true }) },
        { key: 'rpnl', header: 'Realized PnL', numeric: true, render: (p) => formatDecimal(p.realizedPnl, { signed: true }) },
        { key: 'fees', header: 'Fees', numeric: true, render: (p) => formatDecimal(p.feesPaid, { places: 4 }) },
        { key: 'updated', header: 'Updated', render: (p) => formatTime(p.updatedAt) },
      ]} />
  );
}
