import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { FakeBackend, fakeToken } from '../test/fakeBackend';
import { App } from '../app/App';
import { loadSession } from './session';

const users = [
  { user: 'tom', tenant: 'demo', roles: ['trader'], label: 'Tom, trader (demo)' },
  { user: 'olga', tenant: 'demo', roles: ['operator'], label: 'Olga, operator (demo)' },
  { user: 'bea', tenant: 'tenant-b', roles: ['trader'], label: 'Bea, trader (tenant-b)' },
];

describe('development sign-in', () => {
  it('lists demo users by tenant and signs in as one, back to the page asked for', async () => {
    window.history.replaceState(null, '', '/sign-in?returnTo=%2Fpositions');
    const token = fakeToken({ sub: 'bea', tid: 'tenant-b', roles: ['trader'], exp: Math.floor(Date.now() / 1000) + 3600 });
    const backend = new FakeBackend({
      'GET /admin/dev/users': { users },
      'POST /admin/dev/token': { token, expiresAt: new Date(Date.now() + 3600_000).toISOString() },
    }).install();
    render(<App />);
    const tenantB = await screen.findByRole('group', { name: 'Tenant tenant-b' });
    expect(within(tenantB).getAllByRole('button')).toHaveLength(1);
    expect(screen.getByRole('group', { name: 'Tenant demo' })).toHaveTextContent('Olga, operator (demo)');
    await userEvent.click(within(tenantB).getByRole('button', { name: 'Bea, trader (tenant-b)' }));
    expect(await screen.findByRole('heading', { name: 'Positions' })).toBeInTheDocument();
    expect(backend.callsTo('POST', '/admin/dev/token')[0]?.body).toEqual({ user: 'bea', tenant: 'tenant-b', roles: ['trader'] });
    expect(loadSession()?.tenantId).toBe('tenant-b');
    expect(screen.getByTestId('who')).toHaveTextContent('tenant tenant-b');
  });

  it('offers a token field when the devhost has no development sign-in', async () => {
    window.history.replaceState(null, '', '/sign-in');
    new FakeBackend().install();
    render(<App />);
    const field = await screen.findByLabelText('Bearer token');
    await userEvent.type(field, 'not-a-token');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in with this token' }));
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('That token cannot be used'));
  });
});
