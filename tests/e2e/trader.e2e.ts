import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { api, baseUrl, eventually, signIn, TOM } from './support/app';

interface Position { accountId: string; symbol: string; qty: string }
interface Order { id: string; accountId: string; status: string }
interface Profile { accountId: string }

/**
 * A quantity as a value: "0.283830" and "0.28383" are the same amount. The API keeps the
 * lot step's trailing zeros and the table drops them, so the two are compared as values.
 */
function sameQuantity(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

describe('a trader watching paper trading', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await openBrowser(); });
  afterAll(async () => { await browser.close(); });

  it('signs in and, within a minute of paper trading, sees the positions and orders the API has', async () => {
    const { page } = browser;
    // Paper trading starts with the devhost: wait (at most a minute) for the first position and order.
    await eventually(async () => (await api<{ items: Position[] }>(TOM, '/api/v1/positions')).items.length > 0, 60_000, 'a paper position');
    await signIn(page, TOM, '/positions');
    await page.getByRole('heading', { name: 'Positions' }).waitFor();

    // Positions: the table shows exactly the API's (account, symbol, quantity), reading both until they agree.
    await eventually(async () => {
      const want = (await api<{ items: Position[] }>(TOM, '/api/v1/positions')).items
        .map((p) => `${p.accountId}/${p.symbol}/${sameQuantity(p.qty)}`).sort();
      const shown = await page.getByTestId('positions-table').locator('tbody tr[data-row-id]').evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-row-id'), tr.querySelector('[data-testid="position-qty"]')?.textContent?.replace(/,/g, '') ?? '']));
      const rows = shown.map(([row, qty]) => `${row}/${sameQuantity(qty ?? '')}`);
      if (want.length > 0 && JSON.stringify(rows.sort()) === JSON.stringify(want)) return true;
      throw new Error(`the table shows ${JSON.stringify(rows)}, the API has ${JSON.stringify(want)}`);
    }, 30_000, 'the positions table to match GET /api/v1/positions');

    // Orders, per account: the table's ids and statuses are the API's first page.
    const accounts = [...new Set((await api<{ items: Profile[] }>(TOM, '/api/v1/profiles')).items.map((p) => p.accountId))];
    for (const account of accounts) {
      await page.goto(`${baseUrl()}/orders?account=${account}`);
      await eventually(async () => {
        const want = (await api<{ items: Order[] }>(TOM, `/api/v1/orders?accountId=${account}&limit=25`)).items.map((o) => `${o.id}:${o.status}`);
        const got = await page.getByTestId('orders-table').locator('tbody tr[data-row-id]').evaluateAll((trs) =>
          trs.map((tr) => `${tr.getAttribute('data-row-id')}:${tr.children[8]?.textContent}`));
        return JSON.stringify(got) === JSON.stringify(want);
      }, 30_000, `the orders table of ${account} to match GET /api/v1/orders`);
    }
    const anyOrders = await page.getByTestId('orders-table').locator('tbody tr[data-row-id]').count();
    const firstAccountOrders = (await api<{ items: Order[] }>(TOM, `/api/v1/orders?accountId=${accounts[0]}`)).items.length;
    expect(anyOrders + firstAccountOrders).toBeGreaterThan(0);
  });

  it('keeps the session across a reload', async () => {
    const { page } = browser;
    await page.goto(`${baseUrl()}/markets`);
    await page.getByRole('heading', { name: 'Markets' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Markets' }).waitFor();
    expect(await page.getByTestId('who').textContent()).toContain('tom');
    // The table fills from the API after the page shows: wait for its first row.
    await page.getByTestId('markets-table').locator('tbody tr').first().waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('markets-table').locator('tbody tr').count()).toBeGreaterThan(0);
  });

  it('sends an expired session back to sign-in and returns to the same page afterwards', async () => {
    const { page } = browser;
    await page.goto(`${baseUrl()}/decisions?action=hold`);
    await page.getByRole('heading', { name: /Decisions/ }).waitFor();
    // Make the stored session expire in two seconds (what a short-lived token does).
    await page.evaluate(() => {
      const stored = JSON.parse(localStorage.getItem('halyard.session') ?? '{}') as { expiresAt: number };
      stored.expiresAt = Date.now() + 2000;
      localStorage.setItem('halyard.session', JSON.stringify(stored));
    });
    await page.reload();
    await page.getByTestId('session-expired').waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).searchParams.get('returnTo')).toBe('/decisions?action=hold');
    await page.getByTestId('dev-user-demo-tom').click();
    await page.getByRole('heading', { name: /Decisions/ }).waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/decisions?action=hold');
  });
});
