import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { api, OLGA, signIn, TOM } from './support/app';

interface Head { activeVersion: number; previousVersion: number | null }

const STRATEGY = 'demo-sma-cross';

describe('the strategy workbench', () => {
  let trader: Browser;
  let operator: Browser;
  beforeAll(async () => {
    [trader, operator] = await Promise.all([openBrowser(), openBrowser()]);
  });
  afterAll(async () => { await Promise.all([trader.close(), operator.close()]); });

  it('approves a local-advisor proposal as a second operator, then rolls it back', async () => {
    const before = await api<Head>(TOM, `/api/v1/strategies/${STRATEGY}`);

    // The trader asks the local advisor, with the gates turned off (empty fields).
    const page = trader.page;
    await signIn(page, TOM, `/strategies/${STRATEGY}`);
    await page.getByTestId('active-version').waitFor();
    await page.getByLabel('Min return edge').fill('');
    await page.getByLabel('Max drawdown').fill('');
    await page.getByLabel('Min trades').fill('');
    const requested = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/strategies/${STRATEGY}/review`));
    await page.getByRole('button', { name: 'Request review' }).click();
    expect((await requested).postDataJSON()).toMatchObject({ gates: { minReturnEdge: null, maxDrawdown: null, minTrades: null } });

    const proposalCard = page.locator('[data-testid^="proposal-v"]').filter({ has: page.getByText('awaiting-decision') }).first();
    await proposalCard.waitFor({ timeout: 60_000 });
    const version = Number((await proposalCard.getAttribute('data-testid'))!.replace('proposal-v', ''));
    expect(version).toBeGreaterThan(before.activeVersion);
    // The proposer may not approve their own change.
    expect(await proposalCard.getByRole('button', { name: `Approve v${version}` }).isDisabled()).toBe(true);
    // Both equity curves are drawn for the comparison.
    const equity = proposalCard.getByTestId('equity-chart');
    await equity.waitFor();
    expect(await equity.getAttribute('data-series-count')).toBe('2');
    expect((await equity.getAttribute('data-point-count'))!.split(',').every((n) => Number(n) > 1)).toBe(true);

    // A second operator approves it, with a reason, after a confirmation.
    const op = operator.page;
    await signIn(op, OLGA, `/strategies/${STRATEGY}`);
    const card = op.getByTestId(`proposal-v${version}`);
    await card.getByRole('button', { name: `Approve v${version}` }).click();
    const dialog = op.getByRole('dialog');
    await dialog.getByLabel(/Reason/).fill('e2e: simulation looks fine');
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await op.getByTestId('active-version').getByText(String(version), { exact: true }).waitFor({ timeout: 30_000 });
    const approved = await api<Head>(TOM, `/api/v1/strategies/${STRATEGY}`);
    expect(approved.activeVersion).toBe(version);
    expect(approved.previousVersion).toBe(before.activeVersion);
    // The trader's page follows the change too.
    await page.getByTestId('active-version').getByText(String(version), { exact: true }).waitFor({ timeout: 10_000 });

    // Rollback restores the previous version.
    await op.getByRole('button', { name: `Roll back to v${before.activeVersion}` }).click();
    await op.getByRole('dialog').getByLabel(/Reason/).fill('e2e: back to the baseline');
    await op.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
    await op.getByTestId('active-version').getByText(String(before.activeVersion), { exact: true }).waitFor({ timeout: 10_000 });
    expect((await api<Head>(TOM, `/api/v1/strategies/${STRATEGY}`)).activeVersion).toBe(before.activeVersion);
  });
});
