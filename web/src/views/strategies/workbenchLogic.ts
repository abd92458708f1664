import type { Gates, Proposal, SimulationRun, StrategyDetail } from '../../api/types';
import type { LinePoint } from '../../chart/chartModel';
import { toSeconds } from '../../chart/chartModel';

export interface ParamChange {
  key: string;
  from: unknown;
  to: unknown;
}

/** What a proposal changes relative to the version it was based on. */
export function paramChanges(base: Record<string, unknown> | undefined, next: Record<string, unknown>): ParamChange[] {
  const keys = new Set([...Object.keys(base ?? {}), ...Object.keys(next)]);
  const changes: ParamChange[] = [];
  for (const key of [...keys].sort()) {
    const from = base?.[key];
    const to = next[key];
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ key, from, to });
  }
  return changes;
}

export const AWAITING = 'awaiting-decision';
const IN_FLIGHT = new Set(['proposed', 'simulating', 'reviewing', 'approved']);

/** Whether the page should poll: a proposal is still being simulated, or an approval is being applied. */
export function isSettling(detail: StrategyDetail): boolean {
  return detail.proposals.some((p) => IN_FLIGHT.has(p.status) && !(p.status === 'approved' && detail.activeVersion === p.version));
}

/** Why the signed-in user may not approve or reject (null: they may). */
export function decisionBlocked(proposal: Proposal, user: string, isOperator: boolean, readOnly: boolean): string | null {
  if (proposal.status !== AWAITING) return `This proposal is ${proposal.status}.`;
  if (!isOperator) return 'Approving or rejecting needs the operator role.';
  if (readOnly) return 'Maintenance: the dashboard is read-only.';
  if (proposal.proposedBy === user) return 'You proposed this change: another operator must decide.';
  return null;
}

export function rollbackBlocked(detail: StrategyDetail, isOperator: boolean, readOnly: boolean): string | null {
  if (!isOperator) return 'Rolling back needs the operator role.';
  if (readOnly) return 'Maintenance: the dashboard is read-only.';
  if (detail.previousVersion === null) return 'There is no previous version to roll back to.';
  return null;
}

/** Gate inputs: an empty field turns the gate off (null). */
export function parseGates(fields: { minReturnEdge: string; maxDrawdown: string; minTrades: string }): Partial<Gates> | string {
  const out: Partial<Gates> = {};
  for (const [key, raw] of Object.entries(fields) as [keyof typeof fields, string][]) {
    const text = raw.trim();
    if (text === '') { out[key] = null; continue; }
    const value = Number(text);
    if (!Number.isFinite(value)) return `${key} must be a number or empty`;
    if (key === 'minTrades' && !Number.isInteger(value)) return 'minTrades must be a whole number';
    if ((key === 'maxDrawdown' || key === 'minTrades') && value < 0) return `${key} cannot be negative`;
    out[key] = value;
  }
  return out;
}

export function equityLine(points: { at: string; equity: number }[]): LinePoint[] {
  const line = points.map((p) => ({ time: toSeconds(p.at), value: p.equity }));
  line.sort((a, b) => a.time - b.time);
  return line.filter((p, i) => i === 0 || p.time !== (line[i - 1] as LinePoint).time);
}

export function simulationDone(run: SimulationRun | undefined): boolean {
  return run !== undefined && (run.status === 'succeeded' || run.status === 'failed' || run.result !== null);
}
