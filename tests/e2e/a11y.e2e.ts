import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { baseUrl, eventually, OLGA, signIn, visit } from './support/app';

const require = createRequire(path.resolve(import.meta.dirname, '..', '..', 'web', 'package.json'));
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface Violation { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }

async function axe(page: Page): Promise<Violation[]> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: Violation[] }> } })
      .axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }));
  });
}

const VIEWS = ['/', '/markets', '/chart?symbol=BTCUSDT', '/orders', '/positions', '/trades', '/decisions', '/strategies',
  '/strategies/demo-seven-rule', '/operations', '/settings'];

describe('accessibility and keyboard use', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await openBrowser(); });
  afterAll(async () => { await browser.close(); });

  it('has no critical axe-core violations on the sign-in page and the main views', async () => {
    const { page } = browser;
    await page.goto(`${baseUrl()}/sign-in`);
    await page.getByTestId('dev-user-demo-olga').waitFor();
    const found: Record<string, Violation[]> = { '/sign-in': await axe(page) };
    await signIn(page, OLGA); // an operator sees every tab, Admin included
    for (const view of VIEWS) {
      await visit(page, view);
      await page.locator('main h1').first().waitFor().catch(async (e: unknown) => {
        await page.screenshot({ path: '/tmp/a11y-fail.png' });
        throw new Error(`${view}: ${String(e)}`);
      });
      await eventually(async () => (await page.getByText(/Loading/).count()) === 0, 15_000, `${view} to load`);
      found[view] = await axe(page);
    }
    const critical = Object.entries(found).flatMap(([view, list]) => list.filter((v) => v.impact === 'critical').map((v) => `${view}: ${v.id} (${v.help}) at ${JSON.stringify(v.nodes)}`));
    const serious = Object.entries(found).flatMap(([view, list]) => list.filter((v) => v.impact === 'serious').map((v) => `${view}: ${v.id}`));
    if (serious.length) console.log(`serious (not failing): ${serious.join('; ')}`);
    expect(critical).toEqual([]);
  });

  it('works from the keyboard: sign in, skip to content, move between tabs, open a dialog and close it with Escape', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    const olga = page.getByTestId('dev-user-demo-olga');
    await olga.waitFor();
    // Tab until the operator's sign-in button has focus, then press Enter.
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? null);
    for (let i = 0; i < 20 && (await focused()) !== 'dev-user-demo-olga'; i += 1) await page.keyboard.press('Tab');
    expect(await focused()).toBe('dev-user-demo-olga');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    // The first Tab reaches the skip link; Enter moves focus to the main content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id || document.activeElement?.closest('main')?.id)).toBe('main');

    // Tabs are links in order: reach "Orders" by keyboard and open it.
    const ordersTab = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Orders' });
    await ordersTab.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Orders' }).waitFor();
    expect(await ordersTab.getAttribute('aria-current')).toBe('page');

    // A confirmation dialog opens from the keyboard, traps focus, and Escape closes it.
    await visit(page, '/operations');
    const setHalt = page.locator('tr[data-control="global-halt"]').getByRole('button');
    await eventually(() => setHalt.isEnabled(), 10_000, 'the controls to load');
    await setHalt.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('TEXTAREA');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // The chart takes the keyboard: arrows scroll it.
    await visit(page, '/chart?symbol=BTCUSDT');
    const chart = page.getByTestId('chart');
    await eventually(async () => Number(await chart.getAttribute('data-candle-count')) > 0, 20_000, 'candles');
    await chart.focus();
    const before = await chart.screenshot();
    await page.keyboard.press('+');
    await page.keyboard.press('ArrowLeft');
    await page.waitForTimeout(300);
    expect(Buffer.compare(before, await chart.screenshot())).not.toBe(0);
  });
});
