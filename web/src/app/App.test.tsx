import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeBackend, operational, signInAs } from '../test/fakeBackend';
import { App } from './App';

const halt = (over: Record<string, unknown> = {}) => ({
  id: 'halt', scope: 'global', kind: 'halt', active: true, reason: 'exchange incident', actor: 'olga', automatic: false,
  since: '2023-10-06T14:06:54Z', until: null, version: 1, ...over,
});

function go(path: string) {
  window.history.replaceState(null, '', path);
}

describe('the dashboard shell', () => {
  beforeEach(() => go('/'));
  afterEach(() => vi.useRealTimers());

  it('shows a global halt from the status at launch, and clears it from the event feed without a reload', async () => {
    signInAs('tom', 'demo', ['trader']);
    const backend = new FakeBackend({
      'GET /api/product/status': { ...operational, globalHalt: { active: true, reason: 'exchange incident', actor: 'olga', since: '2023-10-06T14:06:54Z' }, tradingAllowed: false },
    }).install();
    render(<App />);
    const banner = await screen.findByTestId('halt-banner');
    expect(banner).toHaveTextContent('All trading is halted');
    expect(banner).toHaveTextContent('exchange incident');
    expect(banner).toHaveTextContent('By olga');
    expect(banner).toHaveTextContent('2023-10-06 14:06:54 UTC');
    act(() => backend.push('control.changed', halt({ active: false, version: 2 })));
    await waitFor(() => expect(screen.queryByTestId('halt-banner')).toBeNull());
  });

  it('shows tenant and profile halts that arrive on the feed, with their reason and actor', async () => {
    signInAs('tom', 'demo', ['trader']);
    const backend = new FakeBackend().install();
    render(<App />);
    await screen.findByRole('heading', { name: 'Overview' });
    act(() => backend.push('control.changed', halt({ scope: 'profile:demo-btc-seven-rule', reason: 'daily loss limit', actor: 'system:risk', automatic: true })));
    const banner = await screen.findByTestId('halt-banner');
    expect(banner).toHaveTextContent('profile demo-btc-seven-rule');
    expect(banner).toHaveTextContent('daily loss limit');
    expect(banner).toHaveTextContent('(automatic)');
  });

  it('turns into "product disabled" when the kill switch is set, and back when cleared', async () => {
    signInAs('tom', 'demo', ['trader']);
    const backend = new FakeBackend().install();
    render(<App />);
    await screen.findByRole('heading', { name: 'Overview' });
    act(() => backend.push('control.changed', halt({ id: 'kill-switch', scope: 'product', kind: 'kill-switch', reason: 'breach' })));
    expect(await screen.findByTestId('product-disabled')).toBeInTheDocument();
    expect(screen.getByText(/breach/)).toBeInTheDocument();
    act(() => backend.push('control.changed', halt({ id: 'kill-switch', scope: 'product', kind: 'kill-switch', active: false, version: 2 })));
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
  });

  it('shows the maintenance banner and makes the page read-only', async () => {
    signInAs('tom', 'demo', ['trader']);
    go('/settings');
    new FakeBackend({
      'GET /api/product/status': { ...operational, state: 'maintenance', maintenance: { active: true, reason: 'db upgrade', actor: 'abe', since: '2023-01-01T00:00:00Z' } },
      'GET /api/v1/profiles': { items: [{ id: 'p1', tenantId: 'demo', accountId: 'a1', name: 'P1', exchange: 'paper', mode: 'paper', symbols: ['BTCUSDT'], interval: '1h', strategyId: 's', strategyVersion: 1, enabled: true, createdAt: '', updatedAt: '', risk: { maxPositionNotional: '1', exposureCapNotional: '1', maxOpenOrders: 1, dailyLossLimit: '1', riskPerTradePct: '1', haltCooldownMinutes: 1 } }] },
    }).install();
    render(<App />);
    expect(await screen.findByTestId('maintenance-banner')).toHaveTextContent('db upgrade');
    expect(await screen.findByRole('button', { name: 'Save profile' })).toBeDisabled();
  });

  it('hides tabs turned off by feature flags and the admin tab from traders', async () => {
    signInAs('tom', 'demo', ['trader']);
    new FakeBackend({ 'GET /api/feature-flags': { flags: { charts: false, markets: true } } }).install();
    render(<App />);
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    await waitFor(() => expect(within(nav).queryByRole('link', { name: 'Chart' })).toBeNull());
    expect(within(nav).getByRole('link', { name: 'Markets' })).toBeInTheDocument();
    expect(within(nav).queryByRole('link', { name: 'Admin' })).toBeNull();
  });

  it('sends an expired session to sign-in and remembers the page', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    signInAs('tom', 'demo', ['trader'], 2);
    go('/positions?x=1');
    new FakeBackend().install();
    render(<App />);
    await screen.findByRole('heading', { name: 'Positions' });
    await act(async () => { vi.advanceTimersByTime(2500); });
    expect(await screen.findByTestId('session-expired')).toHaveTextContent('/positions?x=1');
    expect(window.location.pathname).toBe('/sign-in');
    expect(new URLSearchParams(window.location.search).get('returnTo')).toBe('/positions?x=1');
  });

  it('signs out when the API says the token is no longer valid', async () => {
    signInAs('tom', 'demo', ['trader']);
    go('/orders');
    new FakeBackend({ 'GET /api/v1/profiles': () => ({ status: 401, body: { title: 'Unauthorized', status: 401, requestId: 'r401' } }) }).install();
    render(<App />);
    expect(await screen.findByTestId('session-expired')).toBeInTheDocument();
  });

  it('moves between views with the keyboard and marks the current tab', async () => {
    signInAs('tom', 'demo', ['trader']);
    new FakeBackend().install();
    const user = userEvent.setup();
    render(<App />);
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    const positions = within(nav).getByRole('link', { name: 'Positions' });
    positions.focus();
    await user.keyboard('{Enter}');
    expect(await screen.findByRole('heading', { name: 'Positions' })).toBeInTheDocument();
    expect(positions).toHaveAttribute('aria-current', 'page');
    expect(document.activeElement).toBe(screen.getByRole('main'));
  });
});
