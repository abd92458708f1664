import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Proposal } from '../../api/types';
import { ProposalCard } from './ProposalCard';

vi.mock('./SimulationComparison', () => ({
  SimulationComparison: ({ runId }: { runId: string }) => <div data-testid="comparison">{runId}</div>,
}));

function proposal(overrides: Partial<Proposal>): Proposal {
  return {
    id: 'proposal-2', strategyId: 's-1', version: 2, baseVersion: 1, params: { kind: 'sma-cross', fast: 10 },
    source: 'ai', suggestionId: null, proposedBy: 'tom', proposedAt: '2026-11-21T10:00:00Z', note: '',
    gates: { minReturnEdge: null, maxDrawdown: null, minTrades: null }, status: 'simulating',
    simulationRunId: null, verdict: null, decidedBy: null, decisionReason: null, expiresAt: null, history: [],
    ...overrides,
  } as Proposal;
}

describe('ProposalCard', () => {
  it('opens the simulation comparison when the change becomes due for a decision', () => {
    const props = { baseParams: { kind: 'sma-cross', fast: 5 }, blockedReason: null, onDecide: vi.fn() };
    const { rerender } = render(<ProposalCard proposal={proposal({})} {...props} />);
    expect(screen.queryByTestId('comparison')).toBeNull();
    rerender(<ProposalCard proposal={proposal({ status: 'awaiting-decision', simulationRunId: 'sim-1' })} {...props} />);
    expect(screen.getByTestId('comparison')).toHaveTextContent('sim-1');
  });

  it('lets the reader hide it again', async () => {
    const props = { baseParams: undefined, blockedReason: null, onDecide: vi.fn() };
    render(<ProposalCard proposal={proposal({ status: 'awaiting-decision', simulationRunId: 'sim-2' })} {...props} />);
    await userEvent.click(screen.getByRole('button', { name: /Hide the simulation comparison/ }));
    expect(screen.queryByTestId('comparison')).toBeNull();
  });
});
