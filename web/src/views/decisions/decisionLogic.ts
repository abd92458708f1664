import type { Decision, RuleVerdict } from '../../api/types';

/** Rule names the 7-rule pipeline and the SMA cross use (more are learned from the data). */
export const KNOWN_RULES = ['data-integrity', 'trend-bias', 'session', 'zone', 'momentum', 'entry-trigger',
  'risk-management', 'ai-analysis', 'sma-cross', 'halt'] as const;

export function rulesSeen(decisions: Decision[]): string[] {
  const names = new Set<string>(KNOWN_RULES);
  for (const d of decisions) {
    for (const v of d.verdicts) names.add(v.rule);
    if (d.blockedBy) names.add(d.blockedBy);
  }
  return [...names].sort();
}

/** The verdict that blocked the trade (the first `block`), for the one-line summary. */
export function blockingVerdict(decision: Decision): RuleVerdict | null {
  if (decision.blockedBy) return decision.verdicts.find((v) => v.rule === decision.blockedBy) ?? null;
  return decision.verdicts.find((v) => v.outcome === 'block') ?? null;
}

export function summary(decision: Decision): string {
  const blocking = blockingVerdict(decision);
  if (decision.action === 'blocked' && blocking) return `Blocked by ${blocking.rule}: ${blocking.reason}`;
  if (decision.action === 'buy' || decision.action === 'sell') return `${decision.action.toUpperCase()} signal${decision.intentId ? ' (order sent)' : ''}`;
  return blocking ? `Held; ${blocking.rule}: ${blocking.reason}` : 'Held: no entry or exit condition met';
}

export function formatValue(value: number | string | boolean | null): string {
  if (value === null) return '—';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  return String(value);
}
