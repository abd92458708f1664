import { describe, expect, it } from 'vitest';
import type { Proposal, StrategyDetail } from '../../api/types';
import { decisionBlocked, equityLine, isSettling, paramChanges, parseGates, rollbackBlocked } from './workbenchLogic';

const proposal = (over: Partial<Proposal>): Proposal => ({
  id: 'proposal:2', strategyId: 's', version: 2, baseVersion: 1, params: { kind: 'sma-cross', fast: 11, slow: 37 }, source: 'local-advisor',
  suggestionId: null, proposedBy: 'tom', proposedAt: '', note: '', gates: { minReturnEdge: null, maxDrawdown: null, minTrades: null },
  status: 'awaiting-decision', simulationRunId: 'sim-1', verdict: null, decidedBy: null, decisionReason: null, expiresAt: null, history: [], ...over,
});
const detail = (over: Partial<StrategyDetail>): StrategyDetail => ({
  strategyId: 's', tenantId: 'demo', name: 'S', strategyKind: 'sma-cross', activeVersion: 1, previousVersion: null, latestVersion: 2,
  updatedAt: '', updatedBy: '', versions: [], proposals: [], ...over,
});

describe('strategy workbench', () => {
  it('shows what a proposal changes', () => {
    expect(paramChanges({ kind: 'sma-cross', fast: 10, slow: 30 }, { kind: 'sma-cross', fast: 11, slow: 37 }))
      .toEqual([{ key: 'fast', from: 10, to: 11 }, { key: 'slow', from: 30, to: 37 }]);
  });

  it('does not let the proposer approve their own change', () => {
    expect(decisionBlocked(proposal({}), 'tom', true, false)).toMatch(/another operator/);
    expect(decisionBlocked(proposal({}), 'olga', true, false)).toBeNull();
    expect(decisionBlocked(proposal({}), 'olga', false, false)).toMatch(/operator role/);
    expect(decisionBlocked(proposal({}), 'olga', true, true)).toMatch(/read-only/);
    expect(decisionBlocked(proposal({ status: 'approved' }), 'olga', true, false)).toMatch(/approved/);
  });

  it('offers a rollback only with a previous version', () => {
    expect(rollbackBlocked(detail({}), true, false)).toMatch(/no previous/);
    expect(rollbackBlocked(detail({ previousVersion: 1, activeVersion: 2 }), true, false)).toBeNull();
  });

  it('keeps polling while a proposal is simulated or an approval is being applied', () => {
    expect(isSettling(detail({ proposals: [proposal({ status: 'simulating' })] }))).toBe(true);
    expect(isSettling(detail({ proposals: [proposal({ status: 'approved' })], activeVersion: 1 }))).toBe(true);
    expect(isSettling(detail({ proposals: [proposal({ status: 'approved' })], activeVersion: 2 }))).toBe(false);
    expect(isSettling(detail({ proposals: [proposal({})] }))).toBe(false);
  });

  it('reads gate fields, an empty one turning the gate off', () => {
    expect(parseGates({ minReturnEdge: '', maxDrawdown: ' ', minTrades: '' })).toEqual({ minReturnEdge: null, maxDrawdown: null, minTrades: null });
    expect(parseGates({ minReturnEdge: '0', maxDrawdown: '0.25', minTrades: '5' })).toEqual({ minReturnEdge: 0, maxDrawdown: 0.25, minTrades: 5 });
    expect(parseGates({ minReturnEdge: 'x', maxDrawdown: '', minTrades: '' })).toMatch(/number/);
    expect(parseGates({ minReturnEdge: '', maxDrawdown: '', minTrades: '2.5' })).toMatch(/whole/);
  });

  it('turns an equity curve into a sorted line', () => {
    expect(equityLine([{ at: '2023-01-01T01:00:00Z', equity: 2 }, { at: '2023-01-01T00:00:00Z', equity: 1 }]).map((p) => p.value)).toEqual([1, 2]);
  });
});
