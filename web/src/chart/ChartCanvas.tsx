import { useEffect, useRef } from 'react';
import type { KeyboardEvent } from 'react';
import {
  CandlestickSeries, ColorType, createChart, createSeriesMarkers, LineSeries,
} from 'lightweight-charts';
import type {
  IChartApi, ISeriesApi, ISeriesMarkersPluginApi, MouseEventParams, SeriesMarker, Time, UTCTimestamp,
} from 'lightweight-charts';
import type { ChartPoint } from '../api/types';
import { AnnotationsPrimitive } from './AnnotationsPrimitive';
import type { DrawnShape } from './AnnotationsPrimitive';
import { toIso } from './chartModel';
import type { Bar, FillMarker, LinePoint } from './chartModel';

export interface Overlay {
  id: string;
  label: string;
  color: string;
  points: LinePoint[];
  dashed?: boolean;
}

export interface ChartCanvasProps {
  bars: Bar[];
  overlays: Overlay[];
  markers: FillMarker[];
  shapes: DrawnShape[];
  intervalSec: number;
  label: string;
  height?: number;
  onPointClick?: (point: ChartPoint) => void;
}

/** Bars shown when a chart first opens (more are a scroll or Home away). */
export const INITIAL_BARS = 1500;

interface Handles {
  chart: IChartApi;
  candles: ISeriesApi<'Candlestick'>;
  markers: ISeriesMarkersPluginApi<Time>;
  annotations: AnnotationsPrimitive;
  lines: Map<string, ISeriesApi<'Line'>>;
  fitted: boolean;
}

/** The candle chart: candles, indicator overlays, fill markers and annotations (lightweight-charts). */
export function ChartCanvas({ bars, overlays, markers, shapes, intervalSec, label, height = 480, onPointClick }: ChartCanvasProps) {
  const container = useRef<HTMLDivElement>(null);
  const handles = useRef<Handles | null>(null);
  const clickRef = useRef(onPointClick);
  clickRef.current = onPointClick;
  const barsRef = useRef(bars);
  barsRef.current = bars;
  const intervalSecRef = useRef(intervalSec);
  intervalSecRef.current = intervalSec;

  useEffect(() => {
    const element = container.current;
    if (!element) return undefined;
    const chart = createChart(element, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: '#ffffff' }, textColor: '#1f2328' },
      grid: { vertLines: { color: '#eef0f3' }, horzLines: { color: '#eef0f3' } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false },
    });
    const candles = chart.addSeries(CandlestickSeries, {
      upColor: '#1b7f3b', downColor: '#b42318', wickUpColor: '#1b7f3b', wickDownColor: '#b42318', borderVisible: false,
    });
    const annotations = new AnnotationsPrimitive();
    candles.attachPrimitive(annotations);
    const markerApi = createSeriesMarkers(candles, []);
    const onClick = (param: MouseEventParams<Time>) => {
      const callback = clickRef.current;
      if (!callback || !param.point || param.logical === undefined) return;
      const price = candles.coordinateToPrice(param.point.y);
      const time = timeAtLogical(barsRef.current, param.logical, intervalSecRef.current);
      if (price === null || time === null) return;
      callback({ time: toIso(time), price: Math.round(price * 100) / 100 });
    };
    chart.subscribeClick(onClick);
    handles.current = { chart, candles, markers: markerApi, annotations, lines: new Map(), fitted: false };
    return () => {
      chart.unsubscribeClick(onClick);
      handles.current = null;
      chart.remove();
    };
  }, []);

  useEffect(() => {
    const h = handles.current;
    if (!h) return;
    h.candles.setData(bars as unknown as { time: UTCTimestamp; open: number; high: number; low: number; close: number }[]);
    if (!h.fitted && bars.length > 0) {
      // Readable candles first: a long history opens on its most recent part (scroll or Home for all).
      if (bars.length > INITIAL_BARS) h.chart.timeScale().setVisibleLogicalRange({ from: bars.length - INITIAL_BARS, to: bars.length + 5 });
      else h.chart.timeScale().fitContent();
      h.fitted = true;
    }
  }, [bars]);

  useEffect(() => {
    const h = handles.current;
    if (!h) return;
    const wanted = new Set(overlays.map((o) => o.id));
    for (const [id, series] of h.lines) {
      if (!wanted.has(id)) { h.chart.removeSeries(series); h.lines.delete(id); }
    }
    for (const overlay of overlays) {
      let series = h.lines.get(overlay.id);
      if (!series) {
        series = h.chart.addSeries(LineSeries, {
          color: overlay.color, lineWidth: 2, lineStyle: overlay.dashed ? 2 : 0, priceLineVisible: false,
          lastValueVisible: false, crosshairMarkerVisible: false, title: overlay.label,
        });
        h.lines.set(overlay.id, series);
      }
      series.setData(overlay.points.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    }
  }, [overlays]);

  useEffect(() => {
    handles.current?.markers.setMarkers(markers.map((m): SeriesMarker<Time> => ({
      time: m.time as UTCTimestamp, position: m.position, shape: m.shape, color: m.color, text: m.text, id: m.id,
    })));
  }, [markers]);

  useEffect(() => {
    handles.current?.annotations.setShapes(shapes, bars.map((b) => b.time), intervalSec);
  }, [shapes, bars, intervalSec]);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const timeScale = handles.current?.chart.timeScale();
    if (!timeScale) return;
    const range = timeScale.getVisibleLogicalRange();
    if (!range) return;
    const width = range.to - range.from;
    const step = Math.max(1, Math.round(width / 10));
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-step, -step], ArrowRight: [step, step], '+': [width / 4, -width / 4], '=': [width / 4, -width / 4],
      '-': [-width / 2, width / 2],
    };
    if (event.key === 'Home') { timeScale.fitContent(); event.preventDefault(); return; }
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    timeScale.setVisibleLogicalRange({ from: range.from + move[0], to: range.to + move[1] });
  };

  return (
    <div ref={container} className="chart" style={{ height }} role="group" aria-roledescription="chart" tabIndex={0} aria-label={label}
      aria-describedby="chart-keys" onKeyDown={onKeyDown} data-testid="chart"
      data-candle-count={bars.length} data-overlay-count={overlays.length} data-marker-count={markers.length}
      data-annotation-count={shapes.filter((s) => !s.draft).length} />
  );
}

/** The time under a logical (fractional bar) index, extrapolated past the ends. */
export function timeAtLogical(bars: readonly Bar[], logical: number, intervalSec: number): number | null {
  if (bars.length === 0) return null;
  const index = Math.round(logical);
  const first = bars[0] as Bar;
  const last = bars[bars.length - 1] as Bar;
  if (index < 0) return first.time + index * intervalSec;
  if (index >= bars.length) return last.time + (index - bars.length + 1) * intervalSec;
  return (bars[index] as Bar).time;
}
