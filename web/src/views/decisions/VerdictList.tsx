import type { RuleVerdict } from '../../api/types';
import { formatValue } from './decisionLogic';

/** Every rule's verdict of one tick, in pipeline order. */
export function VerdictList({ verdicts }: { verdicts: RuleVerdict[] }) {
  return (
    <ol className="verdicts">
      {verdicts.map((v) => (
        <li key={v.rule} className={`verdict verdict-${v.outcome}`}>
          <strong>{v.rule}</strong> <span className="badge">{v.outcome}</span>
          {v.direction && <span className="muted"> ({v.direction})</span>}: {v.reason}
          {Object.keys(v.values).length > 0 && (
            <dl className="values">
              {Object.entries(v.values).map(([k, value]) => (
                <div key={k}><dt>{k}</dt><dd>{formatValue(value)}</dd></div>
              ))}
            </dl>
          )}
        </li>
      ))}
    </ol>
  );
}
