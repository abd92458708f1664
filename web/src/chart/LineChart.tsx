import { useEffect, useRef } from 'react';
import { ColorType, createChart, LineSeries } from 'lightweight-charts';
import type { IChartApi, UTCTimestamp } from 'lightweight-charts';
import type { LinePoint } from './chartModel';

export interface LineSpec {
  id: string;
  label: string;
  color: string;
  points: LinePoint[];
}

/** Several lines on one time axis (e.g. baseline and candidate equity curves). */
export function LineChart({ lines, label, height = 260, testId }: { lines: LineSpec[]; label: string; height?: number; testId?: string }) {
  const container = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);

  useEffect(() => {
    if (!container.current) return undefined;
    const chart = createChart(container.current, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: '#ffffff' }, textColor: '#1f2328' },
      grid: { vertLines: { color: '#eef0f3' }, horzLines: { color: '#eef0f3' } },
      timeScale: { timeVisible: true },
    });
    chartRef.current = chart;
    return () => { chartRef.current = null; chart.remove(); };
  }, []);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return undefined;
    const series = lines.map((line) => {
      const s = chart.addSeries(LineSeries, { color: line.color, lineWidth: 2, title: line.label, priceLineVisible: false });
      s.setData(line.points.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
      return s;
    });
    chart.timeScale().fitContent();
    return () => { if (chartRef.current === chart) for (const s of series) chart.removeSeries(s); };
  }, [lines]);

  return (
    <figure className="line-chart">
      <div ref={container} style={{ height }} role="img" aria-label={label} data-testid={testId}
        data-series-count={lines.length} data-point-count={lines.map((l) => l.points.length).join(',')} />
      <figcaption>
        {lines.map((l) => <span key={l.id} className="legend-item"><span style={{ color: l.color }} aria-hidden="true">━ </span>{l.label}</span>)}
      </figcaption>
    </figure>
  );
}
