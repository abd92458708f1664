import { useState } from 'react';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { useApi } from '../../auth/SessionProvider';
import { AccountSelect, pickAccount } from '../../components/AccountSelect';
import { DataTable } from '../../components/DataTable';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Pager } from '../../components/Pager';
import { useFeedEvents } from '../../events/bus';
import { useGate } from '../../gates/GateProvider';
import { formatFraction, formatTime } from '../../lib/format';
import { usePaged } from '../../lib/paging';

export function ReconciliationPanel() {
  const api = useApi();
  const { accounts } = useWorkspace();
  const { readOnly } = useGate();
  const [wanted, setWanted] = useState<string | null>(null);
  const account = pickAccount(accounts, wanted);
  const [runError, setRunError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const runs = usePaged((continuation) => account ? api.reconciliation(account, continuation) : Promise.resolve({ items: [] }), [api, account]);
  useFeedEvents(['reconciliation.'], runs.reload);

  const runNow = async () => {
    setRunError(null);
    try {
      const started = await api.runReconciliation(account);
      setNotice(`Reconciliation ${started.id} started for ${started.accountId}.`);
      runs.reload();
    } catch (caught) {
      setRunError(caught);
    }
  };

  return (
    <section aria-labelledby="recon-heading">
      <h2 id="recon-heading">Reconciliation runs</h2>
      <div className="toolbar">
        <AccountSelect accounts={accounts} value={account} onChange={setWanted} />
        <button type="button" onClick={runNow} disabled={!account || readOnly}>Run now</button>
      </div>
      {notice && <p role="status" className="notice">{notice}</p>}
      <ErrorNotice error={runError ?? runs.error} action="Reconciliation" />
      <DataTable caption={`Runs for ${account || 'no account'}, newest first`} testId="recon-table" rows={runs.items} rowKey={(r) => r.id}
        empty="No runs yet."
        columns={[
          { key: 'started', header: 'Started', render: (r) => formatTime(r.startedAt) },
          { key: 'trigger', header: 'Trigger', render: (r) => `${r.trigger} (${r.actor})` },
          { key: 'status', header: 'Status', render: (r) => <span className="badge">{r.status}</span> },
          { key: 'match', header: 'Match ratio', numeric: true, render: (r) => formatFraction(r.matchRatio) },
          { key: 'drifts', header: 'Drifts', render: (r) => r.drifts.length === 0 ? 'none' : r.drifts.map((d) => `${d.kind}: ${d.summary}`).join('; ') },
          { key: 'error', header: 'Error', render: (r) => r.error ?? '' },
        ]} />
      <Pager label="Reconciliation" page={runs.page} hasPrevious={runs.hasPrevious} hasNext={runs.hasNext} onPrevious={runs.previous} onNext={runs.next} />
    </section>
  );
}
