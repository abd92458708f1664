import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { useApi } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { parseGates } from './workbenchLogic';

/** Ask the AI (or the local advisor) for a proposal; it is simulated and then waits for an operator. */
export function ReviewForm({ strategyId, onRequested, disabledReason }: { strategyId: string; onRequested: () => void; disabledReason: string | null }) {
  const api = useApi();
  const ids = { note: useId(), edge: useId(), dd: useId(), trades: useId() };
  const [note, setNote] = useState('');
  const [gates, setGates] = useState({ minReturnEdge: '0', maxDrawdown: '0.25', minTrades: '5' });
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseGates(gates);
    if (typeof parsed === 'string') { setError(new Error(parsed)); return; }
    setBusy(true);
    setError(null);
    try {
      const answer = await api.review(strategyId, { note, gates: parsed });
      setStatus(`Review ${answer.instanceId} started (${answer.status}). The proposal appears below once simulated.`);
      onRequested();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="review-form" aria-labelledby={`${ids.note}-legend`}>
      <fieldset disabled={Boolean(disabledReason) || busy}>
        <legend id={`${ids.note}-legend`}>Ask the advisor for a change</legend>
        {disabledReason && <p className="muted">{disabledReason}</p>}
        <div className="field">
          <label htmlFor={ids.note}>Note for the reviewer (optional)</label>
          <input id={ids.note} value={note} maxLength={1000} onChange={(e) => setNote(e.target.value)} />
        </div>
        <p className="muted">Approval gates (leave a field empty to turn that gate off):</p>
        <div className="toolbar">
          <div className="field inline"><label htmlFor={ids.edge}>Min return edge</label>
            <input id={ids.edge} inputMode="decimal" size={6} value={gates.minReturnEdge} onChange={(e) => setGates({ ...gates, minReturnEdge: e.target.value })} /></div>
          <div className="field inline"><label htmlFor={ids.dd}>Max drawdown</label>
            <input id={ids.dd} inputMode="decimal" size={6} value={gates.maxDrawdown} onChange={(e) => setGates({ ...gates, maxDrawdown: e.target.value })} /></div>
          <div className="field inline"><label htmlFor={ids.trades}>Min trades</label>
            <input id={ids.trades} inputMode="numeric" size={4} value={gates.minTrades} onChange={(e) => setGates({ ...gates, minTrades: e.target.value })} /></div>
        </div>
        <button type="submit" className="primary">{busy ? 'Requesting…' : 'Request review'}</button>
      </fieldset>
      {status && <p role="status" className="notice">{status}</p>}
      <ErrorNotice error={error} action="Requesting a review" />
    </form>
  );
}
