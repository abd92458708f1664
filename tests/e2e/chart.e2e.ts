import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { openBrowser } from './support/browser';
import type { Browser } from './support/browser';
import { api, eventually, signIn, TOM } from './support/app';

interface Fill { id: string; at: string }
interface Candle { openTime: string }
interface Annotation { id: string; shapeType: string; points: { time: string; price: number }[]; style: Record<string, unknown>; label: string }

async function fillsOf(symbol: string): Promise<Fill[]> {
  const { items: profiles } = await api<{ items: { accountId: string }[] }>(TOM, '/api/v1/profiles');
  const fills: Fill[] = [];
  for (const account of new Set(profiles.map((p) => p.accountId))) {
    let continuation: string | null = null;
    do {
      const page: { items: Fill[]; continuation: string | null } = await api(TOM, `/api/v1/trades?accountId=${account}&symbol=${symbol}&limit=200${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`);
      fills.push(...page.items);
      continuation = page.continuation;
    } while (continuation);
  }
  return fills;
}

/** Pixels of a colour on the chart's canvases (what was really drawn). */
async function colourCounts(page: Page, colours: Record<string, [number, number, number]>): Promise<Record<string, number>> {
  return page.getByTestId('chart').evaluate((el, wanted) => {
    const counts: Record<string, number> = Object.fromEntries(Object.keys(wanted).map((k) => [k, 0]));
    for (const canvas of Array.from(el.querySelectorAll('canvas'))) {
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        for (const [name, [r, g, b]] of Object.entries(wanted)) {
          if (Math.abs(data[i]! - r) < 8 && Math.abs(data[i + 1]! - g) < 8 && Math.abs(data[i + 2]! - b) < 8 && data[i + 3]! > 200) counts[name]! += 1;
        }
      }
    }
    return counts;
  }, colours);
}

describe('the chart workspace', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await openBrowser();
    await eventually(async () => (await fillsOf('BTCUSDT')).length > 0, 60_000, 'a first fill');
    await signIn(browser.page, TOM, '/chart?symbol=BTCUSDT');
  });
  afterAll(async () => { await browser.close(); });

  it('draws candles with the EMA 50/200, Bollinger and VWAP overlays, and one marker per fill the API reports', async () => {
    const { page } = browser;
    const chart = page.getByTestId('chart');
    await eventually(async () => Number(await chart.getAttribute('data-candle-count')) > 0
      && Number(await chart.getAttribute('data-overlay-count')) === 6, 30_000, 'candles and overlays');

    await eventually(async () => {
      const candles = (await api<{ items: Candle[] }>(TOM, '/api/v1/candles?symbol=BTCUSDT&interval=1h&limit=1000')).items;
      const first = Date.parse(candles[0]!.openTime);
      const end = Date.parse(candles[candles.length - 1]!.openTime) + 3600_000;
      const inWindow = (await fillsOf('BTCUSDT')).filter((f) => Date.parse(f.at) >= first && Date.parse(f.at) < end).length;
      await page.reload(); // read the chart as a fresh page does, right after the API
      await eventually(async () => Number(await chart.getAttribute('data-candle-count')) > 0, 20_000, 'candles after reload');
      const markers = Number(await chart.getAttribute('data-marker-count'));
      return inWindow > 0 && markers === inWindow;
    }, 60_000, 'one marker per fill in the loaded candles');

    // The canvases really show candles (up/down colours) and the EMA lines.
    const counts = await colourCounts(page, { up: [0x1b, 0x7f, 0x3b], down: [0xb4, 0x23, 0x18], ema50: [0xe8, 0x59, 0x0c], ema200: [0x70, 0x48, 0xe8], bollinger: [0x1c, 0x7e, 0xd6] });
    expect(counts.up).toBeGreaterThan(100);
    expect(counts.down).toBeGreaterThan(100);
    expect(counts.ema50).toBeGreaterThan(50);
    expect(counts.ema200).toBeGreaterThan(50);
    expect(counts.bollinger).toBeGreaterThan(50);
    await page.getByTestId('chart').screenshot({ path: process.env.HALYARD_E2E_SHOTS ? `${process.env.HALYARD_E2E_SHOTS}/chart.png` : undefined });
  });

  it('draws a trend line by two clicks, saves it on the server as {shapeType, points, style, label}, and deletes it', async () => {
    const { page } = browser;
    await page.getByLabel('Label').fill('e2e support');
    const box = (await page.getByTestId('chart').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.6);
    await page.waitForTimeout(600); // two separate clicks, not a double click
    await page.mouse.click(box.x + box.width * 0.6, box.y + box.height * 0.4);
    await page.getByTestId('annotation-hint').getByText('Ready to save.').waitFor();
    await page.getByRole('button', { name: 'Save annotation' }).click();
    await page.getByTestId('annotation-list').getByText(/Trend line “e2e support”/).waitFor();

    const saved = (await api<{ items: Annotation[] }>(TOM, '/api/v1/annotations?symbol=BTCUSDT')).items;
    const line = saved.find((a) => a.label === 'e2e support');
    expect(line).toBeDefined();
    expect(line!.shapeType).toBe('trend-line');
    expect(line!.points).toHaveLength(2);
    expect(line!.points[0]!.price).toBeLessThan(line!.points[1]!.price); // the first click was lower on screen: a lower price
    expect(Date.parse(line!.points[0]!.time)).toBeLessThan(Date.parse(line!.points[1]!.time));
    expect(line!.style).toMatchObject({ color: '#2962ff', lineWidth: 2 });

    await page.reload(); // it comes back from the server
    await page.getByTestId('annotation-list').getByText(/e2e support/).waitFor();
    expect(await page.getByTestId('chart').getAttribute('data-annotation-count')).toBe(String(saved.length));
    await page.getByRole('button', { name: /Delete Trend line “e2e support”/ }).click();
    await eventually(async () => !(await api<{ items: Annotation[] }>(TOM, '/api/v1/annotations?symbol=BTCUSDT')).items.some((a) => a.label === 'e2e support'), 10_000, 'the annotation to be deleted');
  });
});
