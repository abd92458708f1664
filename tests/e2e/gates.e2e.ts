import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { ABE, baseUrl, clearAllControls, OLGA, signIn, TOM } from './support/app';

const LIVE_MS = 2000; // a control change reaches every page within 2 s, without a reload

/** Sets or clears a control from the admin page; resolves when the API has answered. */
async function changeControl(page: Page, controlKey: string, reason: string): Promise<number> {
  const row = page.locator(`tr[data-control="${controlKey}"]`);
  await row.getByRole('button').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(/Reason/).fill(reason);
  const answered = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/api/admin/controls'));
  await dialog.getByRole('button', { name: /^(Set|Clear)$/ }).click();
  const response = await answered;
  expect(response.status()).toBe(200);
  return Date.now();
}

async function markNoReload(page: Page): Promise<void> {
  await page.evaluate(() => { (window as unknown as { __sameDocument: boolean }).__sameDocument = true; });
}

async function stillSameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument === true);
}

describe('product gates reach the trader live', () => {
  let trader: Browser;
  let operator: Browser;
  beforeAll(async () => {
    await clearAllControls();
    [trader, operator] = await Promise.all([openBrowser(), openBrowser()]);
    await signIn(trader.page, TOM, '/positions');
    await signIn(operator.page, OLGA, '/operations');
    await operator.page.locator('tr[data-control="global-halt"]').waitFor();
  });
  afterEach(async () => { await clearAllControls(); });
  afterAll(async () => { await Promise.all([trader.close(), operator.close()]); });

  it('shows a global halt set by an operator in another browser within 2 s, and removes it when cleared', async () => {
    await markNoReload(trader.page);
    const banner = trader.page.getByTestId('halt-banner');
    expect(await banner.count()).toBe(0);

    const setAt = await changeControl(operator.page, 'global-halt', 'e2e: exchange incident');
    await banner.waitFor({ timeout: LIVE_MS + 1000 });
    const shownAfter = Date.now() - setAt;
    expect(shownAfter).toBeLessThanOrEqual(LIVE_MS);
    const text = await banner.textContent();
    expect(text).toContain('All trading is halted');
    expect(text).toContain('e2e: exchange incident');
    expect(text).toContain('By olga');
    expect(text).toMatch(/since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

    const clearedAt = await changeControl(operator.page, 'global-halt', 'e2e: resolved');
    await banner.waitFor({ state: 'detached', timeout: LIVE_MS + 1000 });
    expect(Date.now() - clearedAt).toBeLessThanOrEqual(LIVE_MS);
    expect(await stillSameDocument(trader.page)).toBe(true);
    console.log(`global halt banner shown after ${shownAfter} ms`);
  });

  it('shows tenant and profile halts with their reason and actor', async () => {
    await markNoReload(trader.page);
    await changeControl(operator.page, 'tenant-halt', 'e2e: tenant review');
    const tenantBanner = trader.page.locator('[data-testid="halt-banner"][data-scope="tenant:demo"]');
    await tenantBanner.waitFor({ timeout: LIVE_MS + 1000 });
    expect(await tenantBanner.textContent()).toContain('e2e: tenant review');

    await changeControl(operator.page, 'profile:demo-btc-sma-cross', 'e2e: profile drift');
    const profileBanner = trader.page.locator('[data-testid="halt-banner"][data-scope="profile:demo-btc-sma-cross"]');
    await profileBanner.waitFor({ timeout: LIVE_MS + 1000 });
    expect(await profileBanner.textContent()).toContain('By olga');
    expect(await stillSameDocument(trader.page)).toBe(true);
  });

  it('shows maintenance as a read-only banner', async () => {
    const admin = await openBrowser();
    try {
      await signIn(admin.page, ABE, '/operations');
      await trader.page.goto(`${baseUrl()}/settings`);
      const save = trader.page.getByRole('button', { name: 'Save profile' }).first();
      await save.waitFor();
      expect(await save.isEnabled()).toBe(true);
      await changeControl(admin.page, 'maintenance', 'e2e: database upgrade');
      await trader.page.getByTestId('maintenance-banner').waitFor({ timeout: LIVE_MS + 1000 });
      expect(await trader.page.getByTestId('maintenance-banner').textContent()).toContain('e2e: database upgrade');
      expect(await save.isDisabled()).toBe(true);
    } finally {
      await admin.close();
    }
  });

  it('turns the trader\'s page into "product disabled" with the kill switch, and back when an admin clears it', async () => {
    const admin = await openBrowser();
    try {
      await signIn(admin.page, ABE, '/operations');
      await trader.page.goto(`${baseUrl()}/positions`);
      await trader.page.getByRole('heading', { name: 'Positions' }).waitFor();
      await markNoReload(trader.page);
      await changeControl(admin.page, 'kill-switch', 'e2e: security incident');
      await trader.page.getByTestId('product-disabled').waitFor({ timeout: LIVE_MS + 1000 });
      expect(await trader.page.locator('main').textContent()).toContain('e2e: security incident');
      expect(await trader.page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);

      // The admin's page is disabled too, but keeps the kill switch control to end it.
      await admin.page.getByTestId('product-disabled').waitFor({ timeout: LIVE_MS + 1000 });
      await changeControl(admin.page, 'kill-switch', 'e2e: all clear');
      await trader.page.getByRole('heading', { name: 'Positions' }).waitFor({ timeout: 5000 });
      expect(await stillSameDocument(trader.page)).toBe(true);
    } finally {
      await admin.close();
    }
  });
});
