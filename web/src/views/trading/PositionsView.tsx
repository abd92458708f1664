import { useEffect } from 'react';
import { useApi } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Loading } from '../../components/Loading';
import { useFeedEvents } from '../../events/bus';
import { addDecimals, formatDecimal } from '../../lib/decimal';
import { useAsync } from '../../lib/useAsync';
import { PositionsTable } from './PositionsTable';

export function PositionsView() {
  const api = useApi();
  const positions = useAsync(() => api.positions().then((r) => r.items), [api]);
  useFeedEvents(['order.'], positions.reload);
  const { reload } = positions;
  useEffect(() => {
    const timer = window.setInterval(reload, 10_000);
    return () => window.clearInterval(timer);
  }, [reload]);
  const items = positions.data ?? [];
  const unrealized = addDecimals(...items.flatMap((p) => (p.unrealizedPnl ? [p.unrealizedPnl] : [])));
  return (
    <section aria-labelledby="positions-heading">
      <h1 id="positions-heading">Positions</h1>
      <ErrorNotice error={positions.error} action="Loading positions" />
      {positions.loading && !positions.data ? <Loading /> : (
        <>
          <p>Total unrealized PnL: <strong>{formatDecimal(unrealized, { signed: true })}</strong></p>
          <PositionsTable positions={items} caption="Open positions of all accounts, marked to the last price" />
        </>
      )}
    </section>
  );
}
