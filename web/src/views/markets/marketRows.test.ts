import { describe, expect, it } from 'vitest';
import type { Instrument, Ticker } from '../../api/types';
import { loadWatchlist, marketRows, saveWatchlist, sortAndFilter } from './marketRows';

const inst = (symbol: string, base: string, quote: string): Instrument => ({
  exchange: 'paper', symbol, base, quote, tickSize: '0.01', lotSize: '0.001', minQty: '0.001', minNotional: '5', status: 'trading',
});
const tick = (symbol: string, lastPrice: string, change24HPct: number, volume24H: number): Ticker => ({ symbol, lastPrice, change24HPct, volume24H, at: '' });

const rows = marketRows(
  [inst('BTCUSDT', 'BTC', 'USDT'), inst('ETHUSDT', 'ETH', 'USDT'), inst('BTCUSD', 'BTC', 'USD'), inst('XRPUSDT', 'XRP', 'USDT')],
  [tick('BTCUSDT', '27670.7', -0.23, 2644), tick('ETHUSDT', '1650.25', 1.5, 9000), tick('BTCUSD', '37371.38', 0, 0)],
  new Set(['ETHUSDT']),
);

describe('markets table', () => {
  it('joins instruments with tickers; a symbol without a price has none', () => {
    expect(rows.find((r) => r.symbol === 'XRPUSDT')?.lastPrice).toBeNull();
    expect(rows.find((r) => r.symbol === 'ETHUSDT')?.watched).toBe(true);
  });

  it('sorts by price as decimals, and rows without a price last in both directions', () => {
    const asc = sortAndFilter(rows, { filter: '', key: 'lastPrice', dir: 'asc', watchedOnly: false }).map((r) => r.symbol);
    expect(asc).toEqual(['ETHUSDT', 'BTCUSDT', 'BTCUSD', 'XRPUSDT']);
    const desc = sortAndFilter(rows, { filter: '', key: 'lastPrice', dir: 'desc', watchedOnly: false }).map((r) => r.symbol);
    expect(desc).toEqual(['BTCUSD', 'BTCUSDT', 'ETHUSDT', 'XRPUSDT']);
  });

  it('sorts by 24h change and filters by symbol, base or quote', () => {
    expect(sortAndFilter(rows, { filter: '', key: 'change24HPct', dir: 'desc', watchedOnly: false })[0]?.symbol).toBe('ETHUSDT');
    expect(sortAndFilter(rows, { filter: 'btc', key: 'symbol', dir: 'asc', watchedOnly: false }).map((r) => r.symbol)).toEqual(['BTCUSD', 'BTCUSDT']);
    expect(sortAndFilter(rows, { filter: '', key: 'symbol', dir: 'asc', watchedOnly: true }).map((r) => r.symbol)).toEqual(['ETHUSDT']);
  });

  it('keeps a watchlist per user', () => {
    saveWatchlist('tom', new Set(['B', 'A']));
    expect([...loadWatchlist('tom')]).toEqual(['A', 'B']);
    expect(loadWatchlist('bea').size).toBe(0);
  });
});
