import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../app/App';
import { FakeBackend, signInAs } from '../../test/fakeBackend';

const blocked = {
  id: 'd1', profileId: 'p1', accountId: 'a', symbol: 'BTCUSDT', interval: '1h', candleTime: '2023-10-06T10:00:00Z', strategyId: 's',
  strategyVersion: 1, action: 'blocked', blockedBy: 'session', intentId: null, createdAt: '',
  verdicts: [
    { rule: 'trend-bias', outcome: 'pass', direction: 'long', reason: 'EMA50 above EMA200', values: { ema_fast: 27577.7126 } },
    { rule: 'session', outcome: 'block', direction: null, reason: 'Outside the trading session', values: { hour: 3 } },
  ],
};

describe('decisions view', () => {
  it('explains each tick with every rule verdict and filters by the blocking rule', async () => {
    signInAs('tom', 'demo', ['trader']);
    window.history.replaceState(null, '', '/decisions');
    const backend = new FakeBackend({
      'GET /api/v1/profiles': { items: [{ id: 'p1', accountId: 'a', name: 'Seven rule', symbols: [], risk: {} }] },
      'GET /api/v1/decisions': { items: [blocked], continuation: null },
    }).install();
    render(<App />);
    const row = await screen.findByRole('button', { name: /Blocked by session: Outside the trading session/ });
    expect(row).toHaveAttribute('aria-expanded', 'false');
    await userEvent.click(row);
    expect(row).toHaveAttribute('aria-expanded', 'true');
    expect(screen.getByText(/EMA50 above EMA200/)).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText('Blocked by rule'), 'session');
    await screen.findByRole('button', { name: /Blocked by session/ });
    const last = backend.callsTo('GET', '/api/v1/decisions').at(-1);
    expect(last?.query.get('blockedBy')).toBe('session');
    expect(last?.query.get('profileId')).toBe('p1');
  });
});
