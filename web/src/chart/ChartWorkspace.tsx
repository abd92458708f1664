import { useId, useMemo, useState } from 'react';
import { useWorkspace } from '../app/WorkspaceProvider';
import { hasRole } from '../auth/session';
import { useApi, useSignedIn } from '../auth/SessionProvider';
import { ErrorNotice } from '../components/ErrorNotice';
import { Loading } from '../components/Loading';
import { useGate } from '../gates/GateProvider';
import { useAsync } from '../lib/useAsync';
import { useSearchParam } from '../router/router';
import { AnnotationEditor, addPoint, draftOf, emptyEditor } from './AnnotationEditor';
import type { EditorState } from './AnnotationEditor';
import { AnnotationList } from './AnnotationList';
import type { DrawnShape } from './AnnotationsPrimitive';
import { ChartCanvas } from './ChartCanvas';
import { INTERVAL_SECONDS } from './chartModel';
import { OVERLAYS, useChartData } from './useChartData';
import { useAnnotations } from './useAnnotations';

const INTERVALS = Object.keys(INTERVAL_SECONDS);

export function ChartWorkspace() {
  const api = useApi();
  const session = useSignedIn();
  const { accounts } = useWorkspace();
  const { readOnly } = useGate();
  const [symbolParam, setSymbol] = useSearchParam('symbol');
  const [intervalParam, setIntervalParam] = useSearchParam('interval');
  const [overlayIds, setOverlayIds] = useState<string[]>(['ema50', 'ema200', 'bollinger', 'vwap']);
  const [editor, setEditor] = useState<EditorState>(emptyEditor);
  const ids = { symbol: useId(), interval: useId() };
  const symbols = useAsync(() => api.symbols().then((r) => r.items.map((i) => i.symbol)), [api]);
  const symbol = symbolParam && /^[A-Z0-9]{2,30}$/.test(symbolParam) ? symbolParam : symbols.data?.[0] ?? 'BTCUSDT';
  const interval = intervalParam && INTERVALS.includes(intervalParam) ? intervalParam : '1h';
  const chart = useChartData(api, symbol, interval, overlayIds, accounts);
  const annotations = useAnnotations(api, symbol);

  const canDraw = hasRole(session, 'trader') && !readOnly;
  const shapes = useMemo<DrawnShape[]>(() => {
    const saved = annotations.items.map((shape) => ({ shape, draft: false }));
    const draft = draftOf(editor, symbol);
    return draft ? [...saved, { shape: draft, draft: true }] : saved;
  }, [annotations.items, editor, symbol]);

  const bars = chart.data?.bars ?? [];
  const last = bars[bars.length - 1];
  const markerCount = chart.markers.markers.length;
  const label = `${symbol} ${interval} candlestick chart: ${bars.length} candles${last ? `, last close ${last.close}` : ''}; `
    + `overlays ${overlayIds.length ? OVERLAYS.filter((o) => overlayIds.includes(o.id)).map((o) => o.label).join(', ') : 'none'}; `
    + `${markerCount} fill markers; ${annotations.items.length} annotations.`;

  return (
    <section aria-labelledby="chart-heading" className="chart-workspace">
      <h1 id="chart-heading">Chart: {symbol}</h1>
      <div className="toolbar">
        <div className="field inline">
          <label htmlFor={ids.symbol}>Symbol</label>
          <select id={ids.symbol} value={symbol} onChange={(e) => setSymbol(e.target.value)}>
            {(symbols.data ?? [symbol]).map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor={ids.interval}>Interval</label>
          <select id={ids.interval} value={interval} onChange={(e) => setIntervalParam(e.target.value)}>
            {INTERVALS.map((i) => <option key={i} value={i}>{i}</option>)}
          </select>
        </div>
        <fieldset className="inline overlays">
          <legend>Overlays</legend>
          {OVERLAYS.map((o) => (
            <label key={o.id} className="inline">
              <input type="checkbox" checked={overlayIds.includes(o.id)}
                onChange={(e) => setOverlayIds((list) => e.target.checked ? [...list, o.id] : list.filter((x) => x !== o.id))} />
              {o.label}
            </label>
          ))}
        </fieldset>
      </div>
      <ErrorNotice error={chart.error} action="Loading the chart" />
      {chart.loading && !chart.data && <Loading label="Loading candles…" />}
      <ChartCanvas bars={bars} overlays={chart.data?.overlays ?? []} markers={chart.markers.markers} shapes={shapes}
        intervalSec={chart.intervalSec} label={label}
        onPointClick={canDraw ? (p) => setEditor((s) => addPoint(s, p)) : undefined} />
      <p id="chart-keys" className="muted">
        Keys on the chart: ← → scroll, + − zoom, Home fits all. Buy fills are green arrows below the bar, sell fills red arrows above.
      </p>
      <p data-testid="marker-summary">
        {markerCount} fill{markerCount === 1 ? '' : 's'} marked on the chart
        {chart.markers.outside ? ` (${chart.markers.outside} older fill${chart.markers.outside === 1 ? '' : 's'} outside the loaded candles)` : ''}.
      </p>
      <div className="two-col">
        <div>
          <h2>Annotations</h2>
          <ErrorNotice error={annotations.error} action="Loading annotations" />
          <AnnotationList items={annotations.items} onDelete={annotations.remove} canDelete={canDraw} />
        </div>
        <AnnotationEditor symbol={symbol} state={editor} onChange={setEditor} onSave={annotations.create}
          disabledReason={canDraw ? null : readOnly ? 'Maintenance: the dashboard is read-only.' : 'Drawing needs the trader role.'} />
      </div>
    </section>
  );
}
