import { useEffect, useState } from 'react';
import { hasRole } from '../../auth/session';
import { useApi, useSignedIn } from '../../auth/SessionProvider';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { DataTable } from '../../components/DataTable';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Loading } from '../../components/Loading';
import { useFeedEvents } from '../../events/bus';
import { useGate } from '../../gates/GateProvider';
import { formatTime } from '../../lib/format';
import { useAsync } from '../../lib/useAsync';
import { Link } from '../../router/router';
import { ProposalCard } from './ProposalCard';
import { ReviewForm } from './ReviewForm';
import { SuggestionsList } from './SuggestionsList';
import { decisionBlocked, isSettling, rollbackBlocked } from './workbenchLogic';

type Pending = { kind: 'approve' | 'reject'; version: number } | { kind: 'rollback' } | null;

export function StrategyDetailView({ strategyId }: { strategyId: string }) {
  const api = useApi();
  const session = useSignedIn();
  const { readOnly } = useGate();
  const detail = useAsync(() => api.strategy(strategyId), [api, strategyId]);
  const suggestions = useAsync(() => api.suggestions(strategyId).then((r) => r.items), [api, strategyId]);
  const [pending, setPending] = useState<Pending>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const reloadAll = () => { detail.reload(); suggestions.reload(); };
  useFeedEvents(['strategy.'], reloadAll);
  const settling = detail.data ? isSettling(detail.data) : false;
  const { reload } = detail;
  const [watching, setWatching] = useState(0);
  useEffect(() => {
    if (!settling && watching === 0) return undefined;
    const timer = window.setInterval(() => { reload(); suggestions.reload(); setWatching((w) => Math.max(0, w - 1)); }, 1500);
    return () => window.clearInterval(timer);
  }, [settling, watching, reload, suggestions.reload]);

  if (detail.error) return <ErrorNotice error={detail.error} action="Loading the strategy" />;
  if (!detail.data) return <Loading />;
  const s = detail.data;
  const isOperator = hasRole(session, 'operator');
  const versionParams = (v: number) => s.versions.find((x) => x.version === v)?.params;
  const proposals = [...s.proposals].sort((a, b) => b.version - a.version);

  return (
    <section aria-labelledby="strategy-heading">
      <p><Link to="/strategies">← All strategies</Link></p>
      <h1 id="strategy-heading">{s.name}</h1>
      <dl className="facts">
        <div><dt>Active version</dt><dd data-testid="active-version">{s.activeVersion}</dd></div>
        <div><dt>Previous version</dt><dd data-testid="previous-version">{s.previousVersion ?? '—'}</dd></div>
        <div><dt>Latest version</dt><dd>{s.latestVersion}</dd></div>
        <div><dt>Updated</dt><dd>{formatTime(s.updatedAt)} by {s.updatedBy}</dd></div>
      </dl>
      {notice && <p role="status" className="notice">{notice}</p>}
      <div className="actions">
        {(() => {
          const blocked = rollbackBlocked(s, isOperator, readOnly);
          return (
            <>
              <button type="button" onClick={() => setPending({ kind: 'rollback' })} disabled={Boolean(blocked)} title={blocked ?? undefined}>
                Roll back to v{s.previousVersion ?? '—'}
              </button>
              {blocked && <span className="muted"> {blocked}</span>}
            </>
          );
        })()}
      </div>
      <h2>Proposals</h2>
      {proposals.length === 0 && <p className="muted">No proposals yet.</p>}
      {proposals.map((p) => (
        <ProposalCard key={p.id} proposal={p} baseParams={versionParams(p.baseVersion)}
          blockedReason={decisionBlocked(p, session.userId, isOperator, readOnly)}
          onDecide={(kind) => setPending({ kind, version: p.version })} />
      ))}
      <ReviewForm strategyId={strategyId} onRequested={() => { setWatching(40); reloadAll(); }}
        disabledReason={!hasRole(session, 'trader') ? 'Requesting a review needs the trader role.' : readOnly ? 'Maintenance: the dashboard is read-only.' : null} />
      <h2>Versions</h2>
      <DataTable caption="Every version of this strategy" testId="versions-table" rows={[...s.versions].sort((a, b) => b.version - a.version)}
        rowKey={(v) => String(v.version)} empty="No versions."
        columns={[
          { key: 'v', header: 'Version', numeric: true, render: (v) => `${v.version}${v.version === s.activeVersion ? ' (active)' : ''}` },
          { key: 'params', header: 'Parameters', render: (v) => <code className="wrap">{JSON.stringify(v.params)}</code> },
          { key: 'by', header: 'Created', render: (v) => `${formatTime(v.createdAt)} by ${v.createdBy}` },
          { key: 'note', header: 'Note', render: (v) => v.note },
        ]} />
      <h2>AI suggestions</h2>
      <ErrorNotice error={suggestions.error} action="Loading suggestions" />
      <SuggestionsList items={suggestions.data ?? []} />
      {pending && pending.kind !== 'rollback' && (
        <ConfirmDialog title={`${pending.kind === 'approve' ? 'Approve' : 'Reject'} version ${pending.version}?`}
          confirmLabel={pending.kind === 'approve' ? 'Approve' : 'Reject'} danger={pending.kind === 'reject'} requireReason
          onClose={() => setPending(null)}
          onConfirm={async (reason) => {
            await api.decideVersion(strategyId, pending.version, pending.kind, reason);
            setNotice(pending.kind === 'approve' ? `Version ${pending.version} approved; it becomes active in a moment.` : `Version ${pending.version} rejected.`);
            setWatching(20);
            reloadAll();
          }}>
          <p>{pending.kind === 'approve' ? 'The approved version replaces the running one for every profile on this strategy.' : 'The proposal is closed; the running version stays.'}</p>
        </ConfirmDialog>
      )}
      {pending?.kind === 'rollback' && (
        <ConfirmDialog title={`Roll back to version ${s.previousVersion ?? '?'}?`} confirmLabel="Roll back" danger requireReason
          onClose={() => setPending(null)}
          onConfirm={async (reason) => {
            const head = await api.rollback(strategyId, reason);
            setNotice(`Rolled back: version ${head.activeVersion} is active.`);
            reloadAll();
          }}>
          <p>Version {s.previousVersion ?? '?'} runs again at once, replacing version {s.activeVersion}. A second rollback undoes this.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
