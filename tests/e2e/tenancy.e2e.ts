import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { api, BEA, eventually, signIn, TOM, visit } from './support/app';

interface Profile { id: string; name: string; accountId: string }
interface Strategy { strategyId: string; name: string }
interface Order { id: string }

const VIEWS = ['/', '/markets', '/chart?symbol=BTCUSDT', '/orders', '/positions', '/trades', '/decisions', '/strategies', '/settings'];

describe('tenant isolation in the UI', () => {
  let browser: Browser;
  const secrets: string[] = [];

  beforeAll(async () => {
    // What tenant "demo" has: profiles, accounts, strategies, orders, and one of its user's annotations.
    await eventually(async () => (await api<{ items: Order[] }>(TOM, '/api/v1/orders?accountId=demo-paper-1')).items.length > 0, 60_000, 'a demo order');
    const profiles = (await api<{ items: Profile[] }>(TOM, '/api/v1/profiles')).items;
    const strategies = (await api<{ items: Strategy[] }>(TOM, '/api/v1/strategies')).items;
    const orders = (await api<{ items: Order[] }>(TOM, '/api/v1/orders?accountId=demo-paper-1&limit=5')).items;
    await api(TOM, '/api/v1/annotations', { method: 'POST', body: {
      symbol: 'BTCUSDT', shapeType: 'text', points: [{ time: '2023-10-06T10:00:00Z', price: 27000 }],
      style: { color: '#2962ff', lineWidth: 2, lineStyle: 'solid', fill: null }, label: 'tenant-A-secret-note',
    } });
    secrets.push(...profiles.flatMap((p) => [p.id, p.name, p.accountId]), ...strategies.flatMap((s) => [s.strategyId, s.name]),
      ...orders.map((o) => o.id), 'tenant-A-secret-note');
    expect(secrets.length).toBeGreaterThan(8);
    browser = await openBrowser();
    await signIn(browser.page, BEA);
  });
  afterAll(async () => { await browser.close(); });

  it('shows a user of tenant B none of tenant A\'s data on any view', async () => {
    const { page } = browser;
    expect(await page.getByTestId('who').textContent()).toContain('tenant-b');
    for (const view of VIEWS) {
      await visit(page, view);
      await page.locator('main h1').first().waitFor();
      // Let every list answer (the event feed's long-poll never goes idle, so no "networkidle").
      await eventually(async () => (await page.getByText(/Loading/).count()) === 0, 15_000, `${view} to load`);
      await page.waitForTimeout(800);
      const text = await page.locator('body').innerText();
      const leaked = secrets.filter((s) => text.includes(s));
      expect(leaked, `tenant A data on ${view}`).toEqual([]);
    }
    // Tenant A's annotation is not on tenant B's chart.
    await visit(page, '/chart?symbol=BTCUSDT');
    await page.getByText('No annotations on this symbol yet.').waitFor();
  });

  it('answers a direct link to tenant A\'s strategy with an error and its request id, not the strategy', async () => {
    const { page } = browser;
    await visit(page, '/strategies/demo-sma-cross');
    const alert = page.getByRole('alert').filter({ hasText: 'Loading the strategy failed' });
    await alert.waitFor();
    expect(await alert.getByTestId('request-id').textContent()).toMatch(/^[0-9a-f]{32}$/);
    const text = await page.locator('body').innerText();
    expect(secrets.filter((s) => s !== 'demo-sma-cross' && text.includes(s))).toEqual([]);
  });

  it('finds tenant A\'s data for tenant A\'s own user (so the check above can fail)', async () => {
    const own = await openBrowser();
    try {
      await signIn(own.page, TOM, '/orders');
      await own.page.getByTestId('orders-table').locator('tbody tr[data-row-id]').first().waitFor();
      const text = await own.page.locator('body').innerText();
      expect(secrets.filter((s) => text.includes(s)).length).toBeGreaterThan(0);
    } finally {
      await own.close();
    }
  });
});
