import { useApi } from '../../auth/SessionProvider';
import { DataTable } from '../../components/DataTable';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Pager } from '../../components/Pager';
import { formatTime } from '../../lib/format';
import { usePaged } from '../../lib/paging';

export function AuditLog() {
  const api = useApi();
  const audit = usePaged((continuation) => api.audit(continuation), [api]);
  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <button type="button" onClick={audit.reload}>Refresh</button>
      <ErrorNotice error={audit.error} action="Loading the audit log" />
      <DataTable caption="The tenant's audit trail, newest first (hash-chained)" testId="audit-table" rows={audit.items} rowKey={(e) => e.id}
        empty="No audit entries."
        columns={[
          { key: 'seq', header: '#', numeric: true, render: (e) => e.seq },
          { key: 'at', header: 'Time', render: (e) => formatTime(e.at) },
          { key: 'action', header: 'Action', render: (e) => e.action },
          { key: 'actor', header: 'Actor', render: (e) => e.actor },
          { key: 'target', header: 'Target', render: (e) => e.target },
          { key: 'details', header: 'Details', render: (e) => <code className="wrap">{JSON.stringify(e.details)}</code> },
          { key: 'req', header: 'Request id', render: (e) => <code>{e.requestId ?? '—'}</code> },
        ]} />
      <Pager label="Audit" page={audit.page} hasPrevious={audit.hasPrevious} hasNext={audit.hasNext} onPrevious={audit.previous} onNext={audit.next} />
    </section>
  );
}
