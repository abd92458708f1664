import { useEffect, useId, useMemo, useState } from 'react';
import { useApi, useSignedIn } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Loading } from '../../components/Loading';
import { formatDecimal } from '../../lib/decimal';
import { formatNumber, formatPercent } from '../../lib/format';
import { useAsync } from '../../lib/useAsync';
import { Link } from '../../router/router';
import { loadWatchlist, marketRows, saveWatchlist, sortAndFilter } from './marketRows';
import type { SortDir, SortKey } from './marketRows';

const COLUMNS: { key: SortKey; label: string; numeric: boolean }[] = [
  { key: 'symbol', label: 'Symbol', numeric: false },
  { key: 'lastPrice', label: 'Last price', numeric: true },
  { key: 'change24HPct', label: '24h change', numeric: true },
  { key: 'volume24H', label: '24h volume', numeric: true },
];

export function MarketsView() {
  const api = useApi();
  const session = useSignedIn();
  const filterId = useId();
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; dir: SortDir }>({ key: 'symbol', dir: 'asc' });
  const [watchedOnly, setWatchedOnly] = useState(false);
  const [watchlist, setWatchlist] = useState(() => loadWatchlist(session.userId));
  const data = useAsync(async () => {
    const { items } = await api.symbols();
    const symbols = items.map((i) => i.symbol).slice(0, 20);
    const tickers = symbols.length ? (await api.tickers(symbols)).items : [];
    return { instruments: items, tickers };
  }, [api]);
  const { reload } = data;
  useEffect(() => {
    const timer = window.setInterval(reload, 5000);
    return () => window.clearInterval(timer);
  }, [reload]);

  const rows = useMemo(() => sortAndFilter(marketRows(data.data?.instruments ?? [], data.data?.tickers ?? [], watchlist),
    { filter, ...sort, watchedOnly }), [data.data, watchlist, filter, sort, watchedOnly]);

  const toggleWatch = (symbol: string) => {
    const next = new Set(watchlist);
    if (next.has(symbol)) next.delete(symbol); else next.add(symbol);
    saveWatchlist(session.userId, next);
    setWatchlist(next);
  };
  const sortBy = (key: SortKey) => setSort((s) => ({ key, dir: s.key === key && s.dir === 'asc' ? 'desc' : 'asc' }));

  return (
    <section aria-labelledby="markets-heading">
      <h1 id="markets-heading">Markets</h1>
      <div className="toolbar">
        <div className="field inline">
          <label htmlFor={filterId}>Filter</label>
          <input id={filterId} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="BTC" />
        </div>
        <label className="inline"><input type="checkbox" checked={watchedOnly} onChange={(e) => setWatchedOnly(e.target.checked)} /> Watchlist only</label>
      </div>
      <ErrorNotice error={data.error} action="Loading markets" />
      {data.loading && !data.data ? <Loading /> : (
        <div className="table-wrap">
          <table data-testid="markets-table">
            <caption>Instruments with last price and 24h change (refreshes every 5 s)</caption>
            <thead>
              <tr>
                <th scope="col">Watch</th>
                {COLUMNS.map((c) => (
                  <th key={c.key} scope="col" className={c.numeric ? 'num' : undefined}
                    aria-sort={sort.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
                    <button type="button" className="link" onClick={() => sortBy(c.key)}>
                      {c.label}{sort.key === c.key ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
                    </button>
                  </th>
                ))}
                <th scope="col">Chart</th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && <tr><td colSpan={6} className="muted">No instrument matches.</td></tr>}
              {rows.map((r) => (
                <tr key={r.symbol} data-row-id={r.symbol}>
                  <td>
                    <button type="button" className="link" aria-pressed={r.watched} onClick={() => toggleWatch(r.symbol)}
                      aria-label={`${r.watched ? 'Remove' : 'Add'} ${r.symbol} ${r.watched ? 'from' : 'to'} the watchlist`}>
                      {r.watched ? '★' : '☆'}
                    </button>
                  </td>
                  <th scope="row">{r.symbol} <span className="muted">{r.status !== 'trading' ? r.status : ''}</span></th>
                  <td className="num">{formatDecimal(r.lastPrice)}</td>
                  <td className={`num ${r.change24HPct !== null && r.change24HPct < 0 ? 'neg' : 'pos'}`}>{formatPercent(r.change24HPct)}</td>
                  <td className="num">{formatNumber(r.volume24H, 2)}</td>
                  <td><Link to={`/chart?symbol=${r.symbol}`}>Open chart</Link></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
