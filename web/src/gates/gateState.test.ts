import { describe, expect, it } from 'vitest';
import type { Control } from '../api/types';
import { activeHalts, applyControl, applyStatus, haltLabel, initialGate, maintenance, productDisabled } from './gateState';

const control = (over: Partial<Control>): Control => ({
  id: 'halt', scope: 'global', kind: 'halt', active: true, reason: 'r', actor: 'olga', automatic: false,
  since: '2023-10-06T14:06:54Z', until: null, version: 1, ...over,
});

describe('gate state', () => {
  it('is disabled until the status is known, and when it is unknown (fail closed)', () => {
    expect(productDisabled(initialGate)).toBe(true);
    const ok = applyStatus(initialGate, { state: 'operational', productDisabled: false, tradingAllowed: true });
    expect(productDisabled(ok)).toBe(false);
    expect(productDisabled(applyStatus(ok, { state: 'unknown', productDisabled: true, tradingAllowed: false }))).toBe(true);
  });

  it('reads kill switch, maintenance and the global halt from the public status', () => {
    const state = applyStatus(initialGate, {
      state: 'maintenance', productDisabled: false, tradingAllowed: false,
      maintenance: { active: true, reason: 'upgrade', actor: 'abe', since: '2023-01-01T00:00:00Z' },
      globalHalt: { active: true, reason: 'incident', actor: 'olga', since: '2023-01-01T00:00:00Z' },
    });
    expect(maintenance(state)?.reason).toBe('upgrade');
    expect(activeHalts(state).map((h) => h.reason)).toEqual(['incident']);
  });

  it('applies control changes from the feed, never an older version over a newer one', () => {
    let state = applyStatus(initialGate, { state: 'operational', productDisabled: false, tradingAllowed: true });
    state = applyControl(state, control({ version: 2 }));
    state = applyControl(state, control({ version: 1, active: false }));
    expect(activeHalts(state)).toHaveLength(1);
    state = applyControl(state, control({ version: 3, active: false }));
    expect(activeHalts(state)).toHaveLength(0);
  });

  it('lists halts global first, then tenant, then profiles', () => {
    let state = applyStatus(initialGate, { state: 'operational', productDisabled: false, tradingAllowed: true });
    state = applyControl(state, control({ scope: 'profile:p1' }));
    state = applyControl(state, control({ scope: 'tenant:demo' }));
    state = applyControl(state, control({ scope: 'global' }));
    expect(activeHalts(state).map((h) => h.scope)).toEqual(['global', 'tenant:demo', 'profile:p1']);
    expect(haltLabel('tenant:demo')).toContain('tenant demo');
  });

  it('turns the product off with the kill switch event', () => {
    let state = applyStatus(initialGate, { state: 'operational', productDisabled: false, tradingAllowed: true });
    state = applyControl(state, control({ id: 'kill-switch', scope: 'product', kind: 'kill-switch', version: 1 }));
    expect(productDisabled(state)).toBe(true);
  });
});
