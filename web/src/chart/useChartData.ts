import { useEffect, useMemo } from 'react';
import type { Endpoints } from '../api/endpoints';
import type { Fill } from '../api/types';
import { useFeedEvents } from '../events/bus';
import { useAsync } from '../lib/useAsync';
import { candlesToBars, fillMarkers, indicatorLine, INTERVAL_SECONDS } from './chartModel';
import type { Overlay } from './ChartCanvas';

export const CANDLE_LIMIT = 1000;
const FILL_PAGES = 10;
const REFRESH_MS = 15_000;

export interface OverlayChoice {
  id: 'ema50' | 'ema200' | 'bollinger' | 'vwap';
  label: string;
}

export const OVERLAYS: OverlayChoice[] = [
  { id: 'ema50', label: 'EMA 50' },
  { id: 'ema200', label: 'EMA 200' },
  { id: 'bollinger', label: 'Bollinger (20, 2)' },
  { id: 'vwap', label: 'VWAP' },
];

async function overlaysFor(api: Endpoints, symbol: string, interval: string, chosen: readonly string[]): Promise<Overlay[]> {
  const out: Overlay[] = [];
  const read = (name: string, params = '') => api.indicator(symbol, interval, CANDLE_LIMIT, name, params);
  const jobs: Promise<void>[] = [];
  if (chosen.includes('ema50')) jobs.push(read('ema', 'period=50').then((r) => { out.push({ id: 'ema50', label: 'EMA 50', color: '#e8590c', points: indicatorLine(r) }); }));
  if (chosen.includes('ema200')) jobs.push(read('ema', 'period=200').then((r) => { out.push({ id: 'ema200', label: 'EMA 200', color: '#7048e8', points: indicatorLine(r) }); }));
  if (chosen.includes('bollinger')) {
    jobs.push(read('bollinger', 'period=20,k=2').then((r) => {
      out.push({ id: 'bb-upper', label: 'BB upper', color: '#1c7ed6', points: indicatorLine(r, 'upper'), dashed: true });
      out.push({ id: 'bb-middle', label: 'BB middle', color: '#1c7ed6', points: indicatorLine(r, 'middle') });
      out.push({ id: 'bb-lower', label: 'BB lower', color: '#1c7ed6', points: indicatorLine(r, 'lower'), dashed: true });
    }));
  }
  if (chosen.includes('vwap')) jobs.push(read('vwap').then((r) => { out.push({ id: 'vwap', label: 'VWAP', color: '#0c8599', points: indicatorLine(r) }); }));
  await Promise.all(jobs);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Every fill of the symbol in the tenant's accounts (newest pages first, bounded). */
async function fillsFor(api: Endpoints, accounts: readonly string[], symbol: string): Promise<Fill[]> {
  const all: Fill[] = [];
  await Promise.all(accounts.map(async (accountId) => {
    let continuation: string | null = null;
    for (let page = 0; page < FILL_PAGES; page += 1) {
      const answer = await api.trades({ accountId, symbol, continuation, limit: 200 });
      all.push(...answer.items);
      continuation = answer.continuation ?? null;
      if (!continuation) break;
    }
  }));
  return all;
}

export function useChartData(api: Endpoints, symbol: string, interval: string, overlayIds: readonly string[], accounts: readonly string[]) {
  const overlayKey = overlayIds.join(',');
  const accountKey = accounts.join(',');
  const data = useAsync(async () => {
    const [candles, overlays, fills] = await Promise.all([
      api.candles(symbol, interval, CANDLE_LIMIT),
      overlaysFor(api, symbol, interval, overlayIds),
      fillsFor(api, accounts, symbol),
    ]);
    return { bars: candlesToBars(candles.items), overlays, fills };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, symbol, interval, overlayKey, accountKey]);
  useFeedEvents(['order.'], data.reload);
  const { reload } = data;
  useEffect(() => {
    const timer = window.setInterval(reload, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);

  const intervalSec = INTERVAL_SECONDS[interval] ?? 3600;
  const markers = useMemo(() => (data.data
    ? fillMarkers(data.data.fills, data.data.bars.map((b) => b.time), intervalSec)
    : { markers: [], outside: 0 }), [data.data, intervalSec]);
  return { ...data, intervalSec, markers };
}
