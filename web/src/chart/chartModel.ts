import type { Annotation, AnnotationWrite, Candle, ChartPoint, Fill, IndicatorOut, ShapeStyle, ShapeType } from '../api/types';

/** Pure mapping from API data to what the chart draws (unit-tested; the canvas is not). */

export interface Bar {
  time: number; // UTC seconds (lightweight-charts UTCTimestamp)
  open: number;
  high: number;
  low: number;
  close: number;
}

export interface LinePoint {
  time: number;
  value: number;
}

export interface FillMarker {
  id: string;
  time: number;
  position: 'belowBar' | 'aboveBar';
  shape: 'arrowUp' | 'arrowDown';
  color: string;
  text: string;
}

export const INTERVAL_SECONDS: Record<string, number> = {
  '1m': 60, '3m': 180, '5m': 300, '15m': 900, '30m': 1800, '1h': 3600, '2h': 7200, '4h': 14400,
  '6h': 21600, '12h': 43200, '1d': 86400,
};

export function toSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

export function toIso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function candlesToBars(candles: Candle[]): Bar[] {
  const bars = candles.map((c) => ({ time: toSeconds(c.openTime), open: c.open, high: c.high, low: c.low, close: c.close }));
  bars.sort((a, b) => a.time - b.time);
  // lightweight-charts needs strictly increasing times: keep the last of duplicates.
  return bars.filter((b, i) => i === bars.length - 1 || (bars[i + 1] as Bar).time !== b.time);
}

/** One output of an indicator (e.g. "value", "upper") as line points; the lookback's nulls are left out. */
export function indicatorLine(out: IndicatorOut, key = 'value'): LinePoint[] {
  const values = out.values[key] ?? [];
  const points: LinePoint[] = [];
  out.time.forEach((iso, i) => {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) points.push({ time: toSeconds(iso), value: v });
  });
  return points;
}

/** Index of the bar whose period contains `time` (binary search), or -1. */
export function barIndexAt(barTimes: readonly number[], time: number, intervalSec: number): number {
  let lo = 0;
  let hi = barTimes.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((barTimes[mid] as number) <= time) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0) return -1;
  return time < (barTimes[found] as number) + intervalSec ? found : -1;
}

/** A fractional bar index for any time, extrapolated past either end (for drawing annotations). */
export function logicalIndex(barTimes: readonly number[], time: number, intervalSec: number): number | null {
  if (barTimes.length === 0) return null;
  const first = barTimes[0] as number;
  const last = barTimes[barTimes.length - 1] as number;
  if (time <= first) return (time - first) / intervalSec;
  if (time >= last) return barTimes.length - 1 + (time - last) / intervalSec;
  let lo = 0;
  let hi = barTimes.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((barTimes[mid] as number) <= time) lo = mid; else hi = mid;
  }
  const a = barTimes[lo] as number;
  const b = barTimes[hi] as number;
  return lo + (b === a ? 0 : (time - a) / (b - a));
}

export interface MarkerResult {
  markers: FillMarker[];
  /** Fills of this symbol outside the loaded candles (not drawn). */
  outside: number;
}

/** One marker per fill, on the bar it happened in: buys below the bar, sells above. */
export function fillMarkers(fills: Fill[], barTimes: readonly number[], intervalSec: number): MarkerResult {
  const markers: FillMarker[] = [];
  let outside = 0;
  for (const fill of fills) {
    const index = barIndexAt(barTimes, toSeconds(fill.at), intervalSec);
    if (index < 0) { outside += 1; continue; }
    const buy = fill.side === 'buy';
    markers.push({
      id: fill.id,
      time: barTimes[index] as number,
      position: buy ? 'belowBar' : 'aboveBar',
      shape: buy ? 'arrowUp' : 'arrowDown',
      color: buy ? '#1b7f3b' : '#b42318',
      text: `${buy ? 'B' : 'S'} ${fill.qty} @ ${fill.price}`,
    });
  }
  markers.sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  return { markers, outside };
}

export const POINTS_NEEDED: Record<ShapeType, number> = { 'trend-line': 2, rectangle: 2, text: 1 };

export const DEFAULT_STYLE: ShapeStyle = { color: '#2962ff', lineWidth: 2, lineStyle: 'solid', fill: null };

/** The annotation to save once a tool has its points; null while more clicks are needed or the input is invalid. */
export function buildAnnotation(symbol: string, shapeType: ShapeType, points: ChartPoint[], style: ShapeStyle, label: string): AnnotationWrite | null {
  if (points.length !== POINTS_NEEDED[shapeType]) return null;
  if (shapeType === 'text' && !label.trim()) return null;
  if (points.some((p) => !(p.price > 0) || Number.isNaN(Date.parse(p.time)))) return null;
  const fill = shapeType === 'rectangle' ? style.fill ?? `${style.color}33` : null;
  return { symbol, shapeType, points, style: { ...style, fill }, label: label.trim() };
}

export function describeAnnotation(a: Annotation | AnnotationWrite): string {
  const where = a.points.map((p) => `${p.time.replace('T', ' ').replace(/:00Z$/, 'Z')} @ ${p.price.toFixed(2)}`).join(' → ');
  const name = a.shapeType === 'trend-line' ? 'Trend line' : a.shapeType === 'rectangle' ? 'Rectangle' : 'Text';
  return `${name}${a.label ? ` “${a.label}”` : ''}: ${where}`;
}
