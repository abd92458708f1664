/**
 * The page the bench loads: our ChartCanvas (the dashboard's chart component) with N
 * synthetic candles. It reports the time from "data in hand" to the first frame with
 * candles painted on the canvas, and the time since navigation start.
 */
import { createRoot } from 'react-dom/client';
import { ChartCanvas } from '../../web/src/chart/ChartCanvas';
import type { Bar } from '../../web/src/chart/chartModel';

declare global {
  interface Window { __bench?: { candles: number; dataToPaintMs: number; navigationToPaintMs: number; paintedPixels: number } }
}

function candles(n: number): Bar[] {
  let seed = 42;
  const random = () => { seed = (seed * 1664525 + 1013904223) % 4294967296; return seed / 4294967296; };
  const start = Date.UTC(2017, 0, 1) / 1000;
  const bars: Bar[] = [];
  let close = 27000;
  for (let i = 0; i < n; i += 1) {
    const open = close;
    close = Math.max(100, open * (1 + (random() - 0.5) * 0.01));
    const high = Math.max(open, close) * (1 + random() * 0.003);
    const low = Math.min(open, close) * (1 - random() * 0.003);
    bars.push({ time: start + i * 60, open, high, low, close });
  }
  return bars;
}

/** Painted: the chart's biggest canvas has pixels of the candle colours. */
function paintedPixels(root: HTMLElement): number {
  let best: HTMLCanvasElement | null = null;
  for (const canvas of Array.from(root.querySelectorAll('canvas'))) {
    if (!best || canvas.width * canvas.height > best.width * best.height) best = canvas;
  }
  const ctx = best?.getContext('2d');
  if (!best || !ctx || best.width === 0) return 0;
  const data = ctx.getImageData(0, 0, best.width, best.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4 * 7) {
    const r = data[i]!; const g = data[i + 1]!; const b = data[i + 2]!;
    if ((r === 0x1b && g === 0x7f && b === 0x3b) || (r === 0xb4 && g === 0x23 && b === 0x18)) count += 1;
  }
  return count;
}

const n = Number(new URLSearchParams(location.search).get('n') ?? 50000);
const bars = candles(n);
const element = document.getElementById('root')!;
const t0 = performance.now();
createRoot(element).render(
  <ChartCanvas bars={bars} overlays={[]} markers={[]} shapes={[]} intervalSec={60} label={`${n} candles`} height={600} />,
);
const check = () => {
  const pixels = paintedPixels(element);
  if (pixels > 0) {
    const now = performance.now();
    window.__bench = { candles: n, dataToPaintMs: now - t0, navigationToPaintMs: now, paintedPixels: pixels };
  } else {
    requestAnimationFrame(check);
  }
};
requestAnimationFrame(check);
