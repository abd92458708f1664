import { useEffect, useState } from 'react';
import type { Proposal } from '../../api/types';
import { formatTime } from '../../lib/format';
import { SimulationComparison } from './SimulationComparison';
import { paramChanges } from './workbenchLogic';

export function ProposalCard({ proposal, baseParams, blockedReason, onDecide }: {
  proposal: Proposal;
  baseParams: Record<string, unknown> | undefined;
  blockedReason: string | null;
  onDecide: (decision: 'approve' | 'reject') => void;
}) {
  const awaiting = proposal.status === 'awaiting-decision';
  const [showSim, setShowSim] = useState(awaiting);
  // The card usually first appears while the change is still simulating: open the
  // comparison when the decision is due, not only if it already was at the first render.
  useEffect(() => { if (awaiting) setShowSim(true); }, [awaiting]);
  const changes = paramChanges(baseParams, proposal.params);
  return (
    <article className="card proposal" data-testid={`proposal-v${proposal.version}`} aria-labelledby={`proposal-${proposal.version}`}>
      <h3 id={`proposal-${proposal.version}`}>
        Version {proposal.version} <span className="badge" data-testid="proposal-status">{proposal.status}</span>
      </h3>
      <p className="muted">
        From {proposal.source} by {proposal.proposedBy}, {formatTime(proposal.proposedAt)}; based on v{proposal.baseVersion}.
        {proposal.expiresAt && proposal.status === 'awaiting-decision' ? ` Decide before ${formatTime(proposal.expiresAt)}.` : ''}
      </p>
      {proposal.note && <p>{proposal.note}</p>}
      <table>
        <caption>Parameter changes</caption>
        <thead><tr><th scope="col">Parameter</th><th scope="col">Now</th><th scope="col">Proposed</th></tr></thead>
        <tbody>
          {changes.length === 0 && <tr><td colSpan={3} className="muted">No parameter changes.</td></tr>}
          {changes.map((c) => <tr key={c.key}><th scope="row">{c.key}</th><td>{JSON.stringify(c.from)}</td><td>{JSON.stringify(c.to)}</td></tr>)}
        </tbody>
      </table>
      {proposal.verdict && <p>Gates: <strong>{proposal.verdict.verdict}</strong> — {proposal.verdict.reasons.join(' ')}</p>}
      {proposal.decidedBy && <p>Decided by {proposal.decidedBy}: {proposal.decisionReason}</p>}
      <details>
        <summary>History</summary>
        <ol>{proposal.history.map((h, i) => <li key={i}>{formatTime(h.at)} {h.status} by {h.actor}: {h.detail}</li>)}</ol>
      </details>
      {proposal.simulationRunId && (
        <>
          <button type="button" className="link" aria-expanded={showSim} onClick={() => setShowSim(!showSim)}>
            {showSim ? 'Hide' : 'Show'} the simulation comparison
          </button>
          {showSim && <SimulationComparison runId={proposal.simulationRunId} />}
        </>
      )}
      {proposal.status === 'awaiting-decision' && (
        <div className="actions">
          {blockedReason && <p className="muted">{blockedReason}</p>}
          <button type="button" className="primary" disabled={Boolean(blockedReason)} onClick={() => onDecide('approve')}>Approve v{proposal.version}</button>
          <button type="button" className="danger" disabled={Boolean(blockedReason)} onClick={() => onDecide('reject')}>Reject v{proposal.version}</button>
        </div>
      )}
    </article>
  );
}
