import { describe, expect, it } from 'vitest';
import type { Fill } from '../api/types';
import { barIndexAt, buildAnnotation, candlesToBars, DEFAULT_STYLE, fillMarkers, indicatorLine, logicalIndex, toSeconds } from './chartModel';
import { addPoint, emptyEditor } from './AnnotationEditor';

const H = 3600;
const t0 = toSeconds('2023-10-06T00:00:00Z');
const barTimes = [t0, t0 + H, t0 + 2 * H, t0 + 3 * H];

const fill = (id: string, at: string, side: 'buy' | 'sell'): Fill => ({
  id, orderId: `o-${id}`, accountId: 'a', symbol: 'BTCUSDT', side, price: '27562.82', qty: '0.287401', fee: '1', feeAsset: 'USDT', liquidity: 'taker', at,
});

describe('chart model', () => {
  it('turns candles into strictly increasing bars', () => {
    const bars = candlesToBars([
      { openTime: '2023-10-06T01:00:00Z', open: 2, high: 3, low: 1, close: 2.5, volume: 1 },
      { openTime: '2023-10-06T00:00:00Z', open: 1, high: 2, low: 0.5, close: 2, volume: 1 },
      { openTime: '2023-10-06T01:00:00Z', open: 2, high: 4, low: 1, close: 3, volume: 1 },
    ]);
    expect(bars.map((b) => b.time)).toEqual([t0, t0 + H]);
    expect(bars[1]?.close).toBe(3);
  });

  it('leaves the indicator lookback (nulls) out of the line', () => {
    const line = indicatorLine({ symbol: 'X', interval: '1h', name: 'bollinger', params: {}, time: ['2023-10-06T00:00:00Z', '2023-10-06T01:00:00Z'], values: { upper: [null, 10] } }, 'upper');
    expect(line).toEqual([{ time: t0 + H, value: 10 }]);
  });

  it('puts one marker per fill on the bar it happened in, buys below and sells above', () => {
    const { markers, outside } = fillMarkers([
      fill('f2', '2023-10-06T02:59:59Z', 'sell'),
      fill('f1', '2023-10-06T00:26:36.567Z', 'buy'),
      fill('f3', '2023-10-06T00:40:00Z', 'buy'),
      fill('old', '2023-10-05T10:00:00Z', 'buy'),
      fill('late', '2023-10-06T04:00:00Z', 'sell'),
    ], barTimes, H);
    expect(markers.map((m) => [m.id, m.time - t0])).toEqual([['f1', 0], ['f3', 0], ['f2', 2 * H]]);
    expect(markers[0]).toMatchObject({ position: 'belowBar', shape: 'arrowUp' });
    expect(markers[2]).toMatchObject({ position: 'aboveBar', shape: 'arrowDown', text: 'S 0.287401 @ 27562.82' });
    expect(outside).toBe(2);
  });

  it('finds bars and fractional positions for annotations, also past the ends', () => {
    expect(barIndexAt(barTimes, t0 + H + 10, H)).toBe(1);
    expect(barIndexAt(barTimes, t0 - 1, H)).toBe(-1);
    expect(logicalIndex(barTimes, t0 + 1.5 * H, H)).toBeCloseTo(1.5);
    expect(logicalIndex(barTimes, t0 + 5 * H, H)).toBeCloseTo(5);
    expect(logicalIndex(barTimes, t0 - 2 * H, H)).toBeCloseTo(-2);
    expect(logicalIndex([], t0, H)).toBeNull();
  });

  it('builds the saved shape {shapeType, points, style, label} only when complete', () => {
    const p1 = { time: '2023-10-06T00:00:00Z', price: 27000 };
    const p2 = { time: '2023-10-06T03:00:00Z', price: 27500 };
    expect(buildAnnotation('BTCUSDT', 'trend-line', [p1], DEFAULT_STYLE, '')).toBeNull();
    expect(buildAnnotation('BTCUSDT', 'trend-line', [p1, p2], DEFAULT_STYLE, ' support ')).toEqual({
      symbol: 'BTCUSDT', shapeType: 'trend-line', points: [p1, p2], style: { ...DEFAULT_STYLE, fill: null }, label: 'support',
    });
    expect(buildAnnotation('BTCUSDT', 'text', [p1], DEFAULT_STYLE, '  ')).toBeNull();
    expect(buildAnnotation('BTCUSDT', 'rectangle', [p1, p2], DEFAULT_STYLE, '')?.style.fill).toBe('#2962ff33');
    expect(buildAnnotation('BTCUSDT', 'rectangle', [p1, { time: 'nope', price: 1 }], DEFAULT_STYLE, '')).toBeNull();
  });

  it('collects clicked points and starts over once the shape is complete', () => {
    const a = { time: '2023-10-06T00:00:00Z', price: 1 };
    const b = { time: '2023-10-06T01:00:00Z', price: 2 };
    const c = { time: '2023-10-06T02:00:00Z', price: 3 };
    let state = addPoint(addPoint(emptyEditor, a), b);
    expect(state.points).toEqual([a, b]);
    state = addPoint(state, c);
    expect(state.points).toEqual([c]);
  });
});
