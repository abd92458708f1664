import { useState } from 'react';
import type { Annotation } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { describeAnnotation } from './chartModel';

export function AnnotationList({ items, onDelete, canDelete }: {
  items: Annotation[];
  onDelete: (id: string) => Promise<void>;
  canDelete: boolean;
}) {
  const [error, setError] = useState<unknown>(null);
  if (items.length === 0) return <p className="muted">No annotations on this symbol yet.</p>;
  return (
    <>
      <ErrorNotice error={error} action="Deleting the annotation" />
      <ul className="annotations" data-testid="annotation-list">
        {items.map((a) => (
          <li key={a.id}>
            <span style={{ color: a.style.color }} aria-hidden="true">■ </span>{describeAnnotation(a)}{' '}
            {canDelete && (
              <button type="button" className="link" aria-label={`Delete ${describeAnnotation(a)}`}
                onClick={() => { setError(null); onDelete(a.id).catch(setError); }}>Delete</button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
