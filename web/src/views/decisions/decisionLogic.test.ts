import { describe, expect, it } from 'vitest';
import type { Decision, RuleVerdict } from '../../api/types';
import { blockingVerdict, formatValue, rulesSeen, summary } from './decisionLogic';

const v = (rule: string, outcome: RuleVerdict['outcome'], reason = `${rule} says so`): RuleVerdict => ({ rule, outcome, direction: null, reason, values: {} });
const decision = (over: Partial<Decision>): Decision => ({
  id: 'd', profileId: 'p', accountId: 'a', symbol: 'BTCUSDT', interval: '1h', candleTime: '2023-10-06T10:00:00Z', strategyId: 's',
  strategyVersion: 1, action: 'hold', blockedBy: null, verdicts: [], intentId: null, createdAt: '', ...over,
});

describe('decisions (the why)', () => {
  it('names the rule that blocked and its reason', () => {
    const d = decision({ action: 'blocked', blockedBy: 'session', verdicts: [v('trend-bias', 'pass'), v('session', 'block', 'Outside the session hours')] });
    expect(blockingVerdict(d)?.rule).toBe('session');
    expect(summary(d)).toBe('Blocked by session: Outside the session hours');
  });

  it('says when a signal sent an order', () => {
    expect(summary(decision({ action: 'buy', intentId: 'i-1' }))).toBe('BUY signal (order sent)');
    expect(summary(decision({ action: 'hold' }))).toBe('Held: no entry or exit condition met');
  });

  it('offers every known rule and any new one for the blocked-by filter', () => {
    const names = rulesSeen([decision({ verdicts: [v('brand-new-rule', 'pass')] })]);
    expect(names).toContain('brand-new-rule');
    expect(names).toContain('trend-bias');
    expect(names).toContain('halt');
  });

  it('formats rule values', () => {
    expect(formatValue(27577.712622985557)).toBe('27577.7126');
    expect(formatValue(50)).toBe('50');
    expect(formatValue(null)).toBe('—');
    expect(formatValue(false)).toBe('false');
  });
});
