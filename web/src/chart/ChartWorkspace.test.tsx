import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../app/App';
import { FakeBackend, signInAs } from '../test/fakeBackend';
import type { FakeRequest } from '../test/fakeBackend';

// jsdom has no canvas: a stand-in for lightweight-charts records what the chart is given.
const drawn = vi.hoisted(() => ({ markers: [] as unknown[], lines: 0, candles: 0 }));
vi.mock('lightweight-charts', () => {
  const series = (kind: string) => ({
    setData: (data: unknown[]) => { if (kind === 'candles') drawn.candles = data.length; },
    attachPrimitive: () => undefined,
    coordinateToPrice: () => 100,
    priceToCoordinate: () => 10,
  });
  return {
    ColorType: { Solid: 'solid' },
    CandlestickSeries: 'candles',
    LineSeries: 'line',
    createChart: () => ({
      addSeries: (kind: string) => { if (kind === 'line') drawn.lines += 1; return series(kind); },
      removeSeries: () => { drawn.lines -= 1; },
      subscribeClick: () => undefined,
      unsubscribeClick: () => undefined,
      remove: () => undefined,
      timeScale: () => ({ fitContent: () => undefined, setVisibleLogicalRange: () => undefined, getVisibleLogicalRange: () => null, logicalToCoordinate: () => 0 }),
    }),
    createSeriesMarkers: () => ({ setMarkers: (m: unknown[]) => { drawn.markers = m; } }),
  };
});

const hours = (n: number) => Array.from({ length: n }, (_, i) => new Date(Date.UTC(2023, 9, 6, i)).toISOString().replace('.000Z', 'Z'));

describe('chart workspace', () => {
  it('loads candles, the four overlays and one marker per fill, and saves a typed-in annotation', async () => {
    signInAs('tom', 'demo', ['trader']);
    window.history.replaceState(null, '', '/chart?symbol=BTCUSDT');
    const times = hours(5);
    const backend = new FakeBackend({
      'GET /api/v1/profiles': { items: [{ id: 'p1', accountId: 'acc-1', name: 'P1', symbols: ['BTCUSDT'], risk: {} }] },
      'GET /api/v1/symbols': { items: [{ symbol: 'BTCUSDT' }] },
      'GET /api/v1/candles': { symbol: 'BTCUSDT', interval: '1h', items: times.map((t) => ({ openTime: t, open: 1, high: 2, low: 0.5, close: 1.5, volume: 1 })) },
      'GET /api/v1/indicators': (req: FakeRequest) => ({ body: { symbol: 'BTCUSDT', interval: '1h', name: req.query.get('name'), params: {}, time: times,
        values: req.query.get('name') === 'bollinger' ? { upper: times.map(() => 2), middle: times.map(() => 1), lower: times.map(() => 0.5) } : { value: times.map(() => 1) } } }),
      'GET /api/v1/trades': { items: [
        { id: 'f1', orderId: 'o1', accountId: 'acc-1', symbol: 'BTCUSDT', side: 'buy', price: '1', qty: '1', fee: '0', feeAsset: 'USDT', liquidity: 'taker', at: '2023-10-06T01:10:00Z' },
        { id: 'f2', orderId: 'o2', accountId: 'acc-1', symbol: 'BTCUSDT', side: 'sell', price: '1', qty: '1', fee: '0', feeAsset: 'USDT', liquidity: 'taker', at: '2023-10-06T03:59:00Z' },
        { id: 'f0', orderId: 'o0', accountId: 'acc-1', symbol: 'BTCUSDT', side: 'buy', price: '1', qty: '1', fee: '0', feeAsset: 'USDT', liquidity: 'taker', at: '2023-10-01T00:00:00Z' },
      ], continuation: null },
      'GET /api/v1/annotations': { items: [], continuation: null },
      'POST /api/v1/annotations': (req: FakeRequest) => ({ status: 201, body: { id: 'annotation:1', ...(req.body as object) } }),
    }).install();
    render(<App />);
    const chart = await screen.findByTestId('chart');
    await waitFor(() => expect(chart).toHaveAttribute('data-marker-count', '2'));
    expect(chart).toHaveAttribute('data-candle-count', '5');
    expect(chart).toHaveAttribute('data-overlay-count', '6');
    expect(drawn.candles).toBe(5);
    expect(drawn.lines).toBe(6);
    expect(drawn.markers).toHaveLength(2);
    expect(screen.getByTestId('marker-summary')).toHaveTextContent('2 fills marked on the chart (1 older fill outside the loaded candles)');
    expect(backend.callsTo('GET', '/api/v1/trades')[0]?.query.get('accountId')).toBe('acc-1');

    // A keyboard user types the shape instead of clicking the canvas.
    await userEvent.selectOptions(screen.getByLabelText('Shape'), 'text');
    await userEvent.type(screen.getByLabelText(/^Label/), 'breakout');
    await userEvent.type(screen.getByLabelText(/Point 1 time/), '2023-10-06T02:00:00Z');
    await userEvent.type(screen.getByLabelText('price'), '1.75');
    await userEvent.click(screen.getByRole('button', { name: 'Save annotation' }));
    await waitFor(() => expect(backend.callsTo('POST', '/api/v1/annotations')).toHaveLength(1));
    expect(backend.callsTo('POST', '/api/v1/annotations')[0]?.body).toEqual({
      symbol: 'BTCUSDT', shapeType: 'text', points: [{ time: '2023-10-06T02:00:00Z', price: 1.75 }],
      style: { color: '#2962ff', lineWidth: 2, lineStyle: 'solid', fill: null }, label: 'breakout',
    });
  });
});
