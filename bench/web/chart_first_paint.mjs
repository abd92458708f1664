#!/usr/bin/env node
/**
 * bench/web: first paint of the dashboard's chart with 50k candles in Debian Chromium.
 *
 *   node bench/web/chart_first_paint.mjs [--candles 50000] [--runs 5]
 *
 * Builds chartBench.tsx (our ChartCanvas) with Vite in production mode, serves it on
 * 127.0.0.1, loads it in fresh Chromium pages and prints each run and the median.
 * Target: median data-to-paint <= 500 ms. Exit 1 when the median misses the target.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '..', '..', 'web');
const require = createRequire(path.join(webDir, 'package.json'));
const { build } = await import(pathToFileURL(require.resolve('vite')).href);
const react = (await import(pathToFileURL(require.resolve('@vitejs/plugin-react')).href)).default;
const playwright = await import(pathToFileURL(require.resolve('playwright-core')).href);
const chromium = playwright.chromium ?? playwright.default.chromium;

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CANDLES = arg('candles', 50_000);
const RUNS = arg('runs', 5);
const TARGET_MS = 500;

const out = mkdtempSync(path.join(tmpdir(), 'halyard-bench-web-'));
try {
  await build({
    root: webDir, configFile: false, logLevel: 'warn', plugins: [react()], mode: 'production',
    resolve: { dedupe: ['react', 'react-dom', 'lightweight-charts'] },
    define: { 'process.env.NODE_ENV': '"production"' },
    build: { outDir: out, emptyOutDir: true, lib: { entry: path.join(here, 'chartBench.tsx'), formats: ['es'], fileName: () => 'bench.js' } },
  });
  writeFileSync(path.join(out, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head>'
    + '<body style="margin:0"><div id="root" style="width:1200px"></div><script type="module" src="/bench.js"></script></body></html>');
  const server = createServer((req, res) => {
    const file = req.url?.startsWith('/bench.js') ? 'bench.js' : 'index.html';
    res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
    res.end(readFileSync(path.join(out, file)));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/?n=${CANDLES}`;

  const browser = await chromium.launch({
    executablePath: process.env.HALYARD_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const results = [];
  try {
    for (let run = 0; run <= RUNS; run += 1) { // run 0 warms the browser's caches and is not counted
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      await page.goto(url);
      await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 30_000 });
      const result = await page.evaluate(() => window.__bench);
      await page.close();
      if (run > 0) results.push(result);
    }
  } finally {
    await browser.close();
    server.close();
  }
  const sorted = results.map((r) => r.dataToPaintMs).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  for (const [i, r] of results.entries()) {
    console.log(`run ${i + 1}: ${r.candles} candles, data to first paint ${r.dataToPaintMs.toFixed(0)} ms, navigation to first paint ${r.navigationToPaintMs.toFixed(0)} ms`);
  }
  console.log(`chart first paint, ${CANDLES} candles, Chromium: median ${median.toFixed(0)} ms (target <= ${TARGET_MS} ms): ${median <= TARGET_MS ? 'OK' : 'MISSED'}`);
  process.exitCode = median <= TARGET_MS ? 0 : 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
