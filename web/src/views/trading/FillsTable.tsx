import type { Fill } from '../../api/types';
import { DataTable } from '../../components/DataTable';
import { formatDecimal, formatQuantity } from '../../lib/decimal';
import { formatTime } from '../../lib/format';

export function FillsTable({ fills, caption }: { fills: Fill[]; caption: string }) {
  return (
    <DataTable caption={caption} testId="fills-table" rows={fills} rowKey={(f) => f.id} empty="No fills."
      columns={[
        { key: 'at', header: 'Time', render: (f) => formatTime(f.at) },
        { key: 'symbol', header: 'Symbol', render: (f) => f.symbol },
        { key: 'side', header: 'Side', render: (f) => <span className={`side-${f.side}`}>{f.side}</span> },
        { key: 'qty', header: 'Quantity', numeric: true, render: (f) => formatQuantity(f.qty) },
        { key: 'price', header: 'Price', numeric: true, render: (f) => formatDecimal(f.price) },
        { key: 'fee', header: 'Fee', numeric: true, render: (f) => `${formatDecimal(f.fee, { places: 4 })} ${f.feeAsset}` },
        { key: 'liq', header: 'Liquidity', render: (f) => f.liquidity },
        { key: 'order', header: 'Order', render: (f) => <code>{f.orderId}</code> },
      ]} />
  );
}
