import { useId, useState } from 'react';
import type { AnnotationWrite, ChartPoint, ShapeType } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { buildAnnotation, DEFAULT_STYLE, POINTS_NEEDED } from './chartModel';

export interface EditorState {
  shapeType: ShapeType;
  points: ChartPoint[];
  label: string;
  color: string;
}

export const emptyEditor: EditorState = { shapeType: 'trend-line', points: [], label: '', color: DEFAULT_STYLE.color };

/** A chart click adds the next point; once a shape has its points, the next click starts over. */
export function addPoint(state: EditorState, point: ChartPoint): EditorState {
  const full = state.points.length >= POINTS_NEEDED[state.shapeType];
  return { ...state, points: full ? [point] : [...state.points, point] };
}

export function draftOf(state: EditorState, symbol: string): AnnotationWrite | null {
  return buildAnnotation(symbol, state.shapeType, state.points, { ...DEFAULT_STYLE, color: state.color }, state.label);
}

const SHAPES: { value: ShapeType; label: string }[] = [
  { value: 'trend-line', label: 'Trend line (2 points)' },
  { value: 'rectangle', label: 'Rectangle (2 corners)' },
  { value: 'text', label: 'Text (1 point)' },
];

/**
 * Drawing tools: pick a shape, click the chart (or type the points), then save. Saved
 * shapes go to the server as {shapeType, points, style, label}.
 */
export function AnnotationEditor({ symbol, state, onChange, onSave, disabledReason }: {
  symbol: string;
  state: EditorState;
  onChange: (next: EditorState) => void;
  onSave: (shape: AnnotationWrite) => Promise<void>;
  disabledReason: string | null;
}) {
  const ids = { shape: useId(), label: useId(), color: useId() };
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const needed = POINTS_NEEDED[state.shapeType];
  const setPoint = (index: number, patch: Partial<ChartPoint>) => {
    const points = Array.from({ length: needed }, (_, i) => state.points[i] ?? { time: '', price: 0 });
    points[index] = { ...(points[index] as ChartPoint), ...patch };
    onChange({ ...state, points });
  };
  return (
    <fieldset className="annotation-editor" disabled={Boolean(disabledReason)}>
      <legend>Draw an annotation</legend>
      {disabledReason && <p className="muted">{disabledReason}</p>}
      <div className="toolbar">
        <div className="field inline">
          <label htmlFor={ids.shape}>Shape</label>
          <select id={ids.shape} value={state.shapeType}
            onChange={(e) => onChange({ ...state, shapeType: e.target.value as ShapeType, points: [] })}>
            {SHAPES.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor={ids.label}>Label{state.shapeType === 'text' ? ' (required)' : ''}</label>
          <input id={ids.label} value={state.label} maxLength={200} onChange={(e) => onChange({ ...state, label: e.target.value })} />
        </div>
        <div className="field inline">
          <label htmlFor={ids.color}>Colour</label>
          <input id={ids.color} type="color" value={state.color} onChange={(e) => onChange({ ...state, color: e.target.value })} />
        </div>
      </div>
      <p className="muted" aria-live="polite" data-testid="annotation-hint">
        {state.points.length < needed ? `Click the chart to place point ${state.points.length + 1} of ${needed}, or type it below.` : 'Ready to save.'}
      </p>
      <div className="points">
        {Array.from({ length: needed }, (_, i) => (
          <div key={i} className="toolbar">
            <label className="inline">Point {i + 1} time (UTC ISO)
              <input value={state.points[i]?.time ?? ''} placeholder="2023-10-06T10:00:00Z" size={22}
                onChange={(e) => setPoint(i, { time: e.target.value })} />
            </label>
            <label className="inline">price
              <input type="number" step="any" min="0" value={state.points[i]?.price || ''} size={10}
                onChange={(e) => setPoint(i, { price: Number(e.target.value) })} />
            </label>
          </div>
        ))}
      </div>
      <ErrorNotice error={error} action="Saving the annotation" />
      <div className="actions">
        <button type="button" onClick={() => onChange({ ...state, points: [] })}>Clear points</button>
        <button type="button" className="primary" disabled={busy || draftOf(state, symbol) === null}
          onClick={async () => {
            const shape = draftOf(state, symbol);
            if (!shape) return;
            setBusy(true);
            setError(null);
            try {
              await onSave(shape);
              onChange({ ...state, points: [], label: '' });
            } catch (caught) {
              setError(caught);
            } finally {
              setBusy(false);
            }
          }}>Save annotation</button>
      </div>
    </fieldset>
  );
}
