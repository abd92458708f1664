import type { Instrument, Ticker } from '../../api/types';
import { compareDecimals } from '../../lib/decimal';

export interface MarketRow {
  symbol: string;
  base: string;
  quote: string;
  status: string;
  lastPrice: string | null;
  change24HPct: number | null;
  volume24H: number | null;
  watched: boolean;
}

export type SortKey = 'symbol' | 'lastPrice' | 'change24HPct' | 'volume24H';
export type SortDir = 'asc' | 'desc';

export function marketRows(instruments: Instrument[], tickers: Ticker[], watchlist: ReadonlySet<string>): MarketRow[] {
  const bySymbol = new Map(tickers.map((t) => [t.symbol, t]));
  return instruments.map((i) => {
    const t = bySymbol.get(i.symbol);
    return {
      symbol: i.symbol, base: i.base, quote: i.quote, status: i.status,
      lastPrice: t?.lastPrice ?? null, change24HPct: t?.change24HPct ?? null, volume24H: t?.volume24H ?? null,
      watched: watchlist.has(i.symbol),
    };
  });
}

function compare(a: MarketRow, b: MarketRow, key: SortKey): number {
  if (key === 'symbol') return a.symbol.localeCompare(b.symbol);
  const x = a[key];
  const y = b[key];
  if (x === null && y === null) return 0;
  if (x === null) return 1; // rows without a price sort last whatever the direction
  if (y === null) return -1;
  if (key === 'lastPrice') return compareDecimals(x as string, y as string);
  return (x as number) - (y as number);
}

export function sortAndFilter(rows: MarketRow[], options: { filter: string; key: SortKey; dir: SortDir; watchedOnly: boolean }): MarketRow[] {
  const needle = options.filter.trim().toUpperCase();
  const kept = rows.filter((r) => (!options.watchedOnly || r.watched)
    && (!needle || r.symbol.includes(needle) || r.base.includes(needle) || r.quote.includes(needle)));
  return kept.sort((a, b) => {
    const missingA = options.key !== 'symbol' && a[options.key] === null;
    const missingB = options.key !== 'symbol' && b[options.key] === null;
    if (missingA !== missingB) return missingA ? 1 : -1;
    const c = compare(a, b, options.key);
    return options.dir === 'asc' ? c : -c;
  });
}

const WATCH_KEY = 'halyard.watchlist';

export function loadWatchlist(user: string, storage: Storage = localStorage): Set<string> {
  try {
    const parsed: unknown = JSON.parse(storage.getItem(`${WATCH_KEY}.${user}`) ?? '[]');
    return new Set(Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string') : []);
  } catch {
    return new Set();
  }
}

export function saveWatchlist(user: string, symbols: ReadonlySet<string>, storage: Storage = localStorage): void {
  storage.setItem(`${WATCH_KEY}.${user}`, JSON.stringify([...symbols].sort()));
}
