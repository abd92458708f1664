import type { AiSuggestion } from '../../api/types';

export function SuggestionsList({ items }: { items: AiSuggestion[] }) {
  if (items.length === 0) return <p className="muted">No AI or advisor suggestions yet.</p>;
  return (
    <ul className="suggestions" data-testid="suggestions">
      {items.map((s) => (
        <li key={s.id} className="card">
          <p>
            <span className="badge">{s.status}</span> {s.source}{s.model && s.model !== s.source ? ` (${s.model})` : ''} on v{s.baseVersion}
            {s.deltas ? `: ${Object.entries(s.deltas).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join(', ')}` : ''}
            {s.confidence !== null ? ` — confidence ${Math.round(s.confidence * 100)}%` : ''}
          </p>
          {s.rationale && <p>{s.rationale}</p>}
          {s.reasons.length > 0 && <p className="muted">Not proposed: {s.reasons.join('; ')}</p>}
          {s.risks.length > 0 && <ul>{s.risks.map((r) => <li key={r}>Risk: {r}</li>)}</ul>}
        </li>
      ))}
    </ul>
  );
}
