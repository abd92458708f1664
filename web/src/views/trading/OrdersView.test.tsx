import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../app/App';
import { FakeBackend, signInAs } from '../../test/fakeBackend';
import type { FakeRequest } from '../../test/fakeBackend';

const profiles = { items: [
  { id: 'p1', accountId: 'acc-1', name: 'P1', symbols: ['BTCUSDT'], risk: {} },
  { id: 'p2', accountId: 'acc-2', name: 'P2', symbols: ['BTCUSDT'], risk: {} },
] };
const order = (id: string, status: string) => ({
  id, tenantId: 'demo', accountId: 'acc-1', profileId: 'p1', symbol: 'BTCUSDT', side: 'buy', type: 'limit', qty: '0.5', limitPrice: '27000',
  status, exchange: 'paper', filledQty: '0', avgFillPrice: null, fees: '0', rejectReason: null, createdAt: `2023-10-06T0${id.length}:00:00Z`,
});

describe('orders view', () => {
  it('pages with continuation tokens per account', async () => {
    signInAs('tom', 'demo', ['trader']);
    window.history.replaceState(null, '', '/orders');
    const backend = new FakeBackend({
      'GET /api/v1/profiles': profiles,
      'GET /api/v1/orders': (req: FakeRequest) => ({ body: req.query.get('continuation') === 'page-2'
        ? { items: [order('o-old', 'filled')], continuation: null }
        : { items: [order('o-new', 'filled')], continuation: 'page-2' } }),
    }).install();
    render(<App />);
    expect(await screen.findByText('Page 1')).toBeInTheDocument();
    await screen.findByRole('row', { name: /acc-1/ });
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await screen.findByText('Page 2')).toBeInTheDocument();
    const calls = backend.callsTo('GET', '/api/v1/orders');
    expect(calls.every((c) => c.query.get('accountId') === 'acc-1')).toBe(true);
    expect(calls.at(-1)?.query.get('continuation')).toBe('page-2');
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();
  });

  it('cancels an open order only after confirmation, and shows a failure with its request id', async () => {
    signInAs('tom', 'demo', ['trader']);
    window.history.replaceState(null, '', '/orders');
    let cancels = 0;
    const backend = new FakeBackend({
      'GET /api/v1/profiles': profiles,
      'GET /api/v1/orders': { items: [order('o-open', 'new'), order('o-done', 'filled')], continuation: null },
      'POST /api/v1/orders/o-open/cancel': () => {
        cancels += 1;
        return cancels === 1 ? { status: 409, body: { title: 'Conflict', status: 409, detail: 'already filled', requestId: 'req-cancel-1' } } : { status: 202, body: {} };
      },
    }).install();
    render(<App />);
    const table = await screen.findByTestId('orders-table');
    expect(await within(table).findAllByRole('button', { name: /Cancel order/ })).toHaveLength(1);
    await userEvent.click(within(table).getByRole('button', { name: 'Cancel order o-open' }));
    const dialog = await screen.findByRole('dialog');
    expect(backend.callsTo('POST', '/api/v1/orders/o-open/cancel')).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel order' }));
    expect(await within(dialog).findByTestId('request-id')).toHaveTextContent('req-cancel-1');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel order' }));
    expect(await screen.findByText(/Cancel requested for order o-open/)).toBeInTheDocument();
  });

  it('disables cancelling for viewers', async () => {
    signInAs('ada', 'demo', ['viewer']);
    window.history.replaceState(null, '', '/orders');
    new FakeBackend({ 'GET /api/v1/profiles': profiles, 'GET /api/v1/orders': { items: [order('o-open', 'new')], continuation: null } }).install();
    render(<App />);
    expect(await screen.findByRole('button', { name: 'Cancel order o-open' })).toBeDisabled();
  });
});
