import { useId, useState } from 'react';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { useApi } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Pager } from '../../components/Pager';
import { formatTime } from '../../lib/format';
import { usePaged } from '../../lib/paging';
import { useSearchParam } from '../../router/router';
import { rulesSeen, summary } from './decisionLogic';
import { VerdictList } from './VerdictList';

const ACTIONS = ['', 'buy', 'sell', 'hold', 'blocked'];

export function DecisionsView() {
  const api = useApi();
  const { profiles } = useWorkspace();
  const [wantedProfile, setProfile] = useSearchParam('profile');
  const [action, setAction] = useSearchParam('action');
  const [blockedBy, setBlockedBy] = useSearchParam('blockedBy');
  const profileId = profiles.some((p) => p.id === wantedProfile) ? (wantedProfile as string) : profiles[0]?.id ?? '';
  const [open, setOpen] = useState<string | null>(null);
  const ids = { profile: useId(), action: useId(), rule: useId() };
  const decisions = usePaged((continuation) => profileId
    ? api.decisions({ profileId, action: action ?? undefined, blockedBy: blockedBy ?? undefined, continuation, limit: 25 })
    : Promise.resolve({ items: [], continuation: null }), [api, profileId, action, blockedBy]);
  const rules = rulesSeen(decisions.items);

  return (
    <section aria-labelledby="decisions-heading">
      <h1 id="decisions-heading">Decisions: why a trade fired, was blocked or skipped</h1>
      <div className="toolbar">
        <div className="field inline">
          <label htmlFor={ids.profile}>Profile</label>
          <select id={ids.profile} value={profileId} onChange={(e) => setProfile(e.target.value)}>
            {profiles.length === 0 && <option value="">No profiles</option>}
            {profiles.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor={ids.action}>Action</label>
          <select id={ids.action} value={action ?? ''} onChange={(e) => setAction(e.target.value)}>
            {ACTIONS.map((a) => <option key={a} value={a}>{a || 'any'}</option>)}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor={ids.rule}>Blocked by rule</label>
          <select id={ids.rule} value={blockedBy ?? ''} onChange={(e) => setBlockedBy(e.target.value)}>
            <option value="">any</option>
            {rules.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </div>
      </div>
      <ErrorNotice error={decisions.error} action="Loading decisions" />
      <ul className="decisions" data-testid="decisions">
        {decisions.items.length === 0 && !decisions.loading && <li className="muted">No decisions match.</li>}
        {decisions.items.map((d) => {
          const expanded = open === d.id;
          const panelId = `verdicts-${d.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
          return (
            <li key={d.id} className={`decision decision-${d.action}`}>
              <button type="button" className="disclosure" aria-expanded={expanded} aria-controls={panelId}
                onClick={() => setOpen(expanded ? null : d.id)}>
                <time dateTime={d.candleTime}>{formatTime(d.candleTime)}</time>{' '}
                <span className="badge">{d.action}</span> {d.symbol} v{d.strategyVersion}: {summary(d)}
              </button>
              {expanded && <div id={panelId}><VerdictList verdicts={d.verdicts} /></div>}
            </li>
          );
        })}
      </ul>
      <Pager label="Decisions" page={decisions.page} hasPrevious={decisions.hasPrevious} hasNext={decisions.hasNext}
        onPrevious={decisions.previous} onNext={decisions.next} />
    </section>
  );
}
