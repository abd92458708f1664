import { useAlerts } from '../../app/AlertsProvider';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { useApi } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Loading } from '../../components/Loading';
import { formatDecimal } from '../../lib/decimal';
import { formatTime } from '../../lib/format';
import { OrdersTable } from '../trading/OrdersTable';
import { PositionsTable } from '../trading/PositionsTable';
import { summarize } from './summary';
import { useOverviewData } from './useOverviewData';

function pnlClass(value: string): string {
  return value.startsWith('-') ? 'neg' : value === '0' ? '' : 'pos';
}

export function OverviewView() {
  const api = useApi();
  const workspace = useWorkspace();
  const alerts = useAlerts();
  const data = useOverviewData(api, workspace.accounts);
  const summary = data.data ? summarize(data.data.ledgers, data.data.positions) : [];

  return (
    <section aria-labelledby="overview-heading">
      <h1 id="overview-heading">Overview</h1>
      <ErrorNotice error={workspace.error ?? data.error} action="Loading the overview" />
      {data.loading && !data.data && <Loading />}
      {data.data && (
        <>
          <div className="cards" data-testid="equity-cards">
            {summary.length === 0 && <p className="muted">No accounts yet.</p>}
            {summary.map((s) => (
              <dl key={s.asset} className="card">
                <div><dt>Equity ({s.asset})</dt><dd data-testid={`equity-${s.asset}`}>{formatDecimal(s.equity)}</dd></div>
                <div><dt>Realized PnL</dt><dd className={pnlClass(s.realized)}>{formatDecimal(s.realized, { signed: true })}{s.realizedComplete ? '' : ' (recent entries)'}</dd></div>
                <div><dt>Unrealized PnL</dt><dd className={pnlClass(s.unrealized)}>{formatDecimal(s.unrealized, { signed: true })}</dd></div>
                <div><dt>Cash + positions at cost</dt><dd>{formatDecimal(s.balance)}</dd></div>
              </dl>
            ))}
          </div>
          <h2>Open positions</h2>
          <PositionsTable positions={data.data.positions} caption="Open positions, marked to the last price" />
          <h2>Recent orders</h2>
          <OrdersTable orders={data.data.orders} caption="The 10 newest orders across accounts" />
        </>
      )}
      <h2>Recent alerts</h2>
      {alerts.length === 0 ? <p className="muted">No alerts since you signed in.</p> : (
        <ul className="alerts" data-testid="alerts">
          {alerts.map((a) => (
            <li key={a.id} className={`alert alert-${a.severity}`}>
              <time dateTime={a.at}>{formatTime(a.at)}</time> {a.text}
              {a.requestId && <span className="muted"> (request {a.requestId})</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
