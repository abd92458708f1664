import { useApi } from '../../auth/SessionProvider';
import { DataTable } from '../../components/DataTable';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useFeedEvents } from '../../events/bus';
import { formatTime } from '../../lib/format';
import { useAsync } from '../../lib/useAsync';
import { Link } from '../../router/router';

export function StrategiesView() {
  const api = useApi();
  const list = useAsync(() => api.strategies().then((r) => r.items), [api]);
  useFeedEvents(['strategy.'], list.reload);
  return (
    <section aria-labelledby="strategies-heading">
      <h1 id="strategies-heading">Strategy workbench</h1>
      <ErrorNotice error={list.error} action="Loading strategies" />
      <DataTable caption="The tenant's strategies" testId="strategies-table" rows={list.data ?? []} rowKey={(s) => s.strategyId}
        empty={list.loading ? 'Loading…' : 'No strategies.'}
        columns={[
          { key: 'name', header: 'Strategy', render: (s) => <Link to={`/strategies/${encodeURIComponent(s.strategyId)}`}>{s.name}</Link> },
          { key: 'kind', header: 'Kind', render: (s) => s.strategyKind },
          { key: 'active', header: 'Active version', numeric: true, render: (s) => s.activeVersion },
          { key: 'previous', header: 'Previous', numeric: true, render: (s) => s.previousVersion ?? '—' },
          { key: 'latest', header: 'Latest', numeric: true, render: (s) => s.latestVersion },
          { key: 'updated', header: 'Updated', render: (s) => `${formatTime(s.updatedAt)} by ${s.updatedBy}` },
        ]} />
    </section>
  );
}
