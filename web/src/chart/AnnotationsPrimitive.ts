import type {
  IChartApi, IPrimitivePaneRenderer, IPrimitivePaneView, ISeriesApi, ISeriesPrimitive, Logical, SeriesAttachedParameter,
  SeriesType, Time,
} from 'lightweight-charts';
import type { AnnotationWrite, ChartPoint } from '../api/types';
import { logicalIndex, toSeconds } from './chartModel';

type Target = Parameters<IPrimitivePaneRenderer['draw']>[0];

export interface DrawnShape {
  shape: AnnotationWrite;
  draft: boolean;
}

interface Projected {
  shape: AnnotationWrite;
  draft: boolean;
  xy: { x: number; y: number }[];
}

const DASH: Record<string, number[]> = { solid: [], dashed: [6, 4], dotted: [2, 3] };

/**
 * Draws saved annotations (trend lines, rectangles, text) and the one being drawn on the
 * candle series' pane, in the series' price and time coordinates, so they move with the chart.
 */
export class AnnotationsPrimitive implements ISeriesPrimitive<Time> {
  private shapes: DrawnShape[] = [];
  private barTimes: readonly number[] = [];
  private intervalSec = 3600;
  private chart: IChartApi | null = null;
  private series: ISeriesApi<SeriesType> | null = null;
  private requestUpdate: (() => void) | null = null;
  private projected: Projected[] = [];

  attached(param: SeriesAttachedParameter<Time>): void {
    this.chart = param.chart as IChartApi;
    this.series = param.series as ISeriesApi<SeriesType>;
    this.requestUpdate = param.requestUpdate;
  }

  detached(): void {
    this.chart = null;
    this.series = null;
    this.requestUpdate = null;
  }

  setShapes(shapes: DrawnShape[], barTimes: readonly number[], intervalSec: number): void {
    this.shapes = shapes;
    this.barTimes = barTimes;
    this.intervalSec = intervalSec;
    this.requestUpdate?.();
  }

  private project(point: ChartPoint): { x: number; y: number } | null {
    if (!this.chart || !this.series) return null;
    const logical = logicalIndex(this.barTimes, toSeconds(point.time), this.intervalSec);
    if (logical === null) return null;
    const x = this.chart.timeScale().logicalToCoordinate(logical as Logical);
    const y = this.series.priceToCoordinate(point.price);
    return x === null || y === null ? null : { x, y };
  }

  updateAllViews(): void {
    this.projected = [];
    for (const { shape, draft } of this.shapes) {
      const xy = shape.points.map((p) => this.project(p));
      if (xy.every((p) => p !== null)) this.projected.push({ shape, draft, xy: xy as { x: number; y: number }[] });
    }
  }

  paneViews(): readonly IPrimitivePaneView[] {
    const projected = this.projected;
    return [{
      zOrder: () => 'top',
      renderer: () => ({
        draw: (target: Target) => target.useMediaCoordinateSpace(({ context }) => {
          for (const item of projected) drawShape(context, item);
        }),
      }),
    }];
  }
}

function drawShape(ctx: CanvasRenderingContext2D, { shape, draft, xy }: Projected): void {
  const { style } = shape;
  ctx.save();
  ctx.strokeStyle = style.color;
  ctx.fillStyle = style.color;
  ctx.lineWidth = style.lineWidth;
  ctx.setLineDash(draft ? [4, 4] : DASH[style.lineStyle] ?? []);
  const [a, b] = xy;
  if (shape.shapeType === 'trend-line' && a && b) {
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  } else if (shape.shapeType === 'rectangle' && a && b) {
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    const w = Math.abs(a.x - b.x);
    const h = Math.abs(a.y - b.y);
    if (style.fill) {
      ctx.fillStyle = style.fill;
      ctx.fillRect(x, y, w, h);
    }
    ctx.strokeRect(x, y, w, h);
  } else if (a) {
    ctx.beginPath();
    ctx.arc(a.x, a.y, 3, 0, Math.PI * 2);
    ctx.fill();
  }
  if (shape.label && a) {
    ctx.font = '12px system-ui, sans-serif';
    ctx.fillStyle = style.color;
    ctx.fillText(shape.label, a.x + 6, a.y - 6);
  }
  ctx.restore();
}
