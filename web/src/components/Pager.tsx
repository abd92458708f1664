/** Previous / next over continuation tokens. */
export function Pager({ page, hasPrevious, hasNext, onPrevious, onNext, label }: {
  page: number; hasPrevious: boolean; hasNext: boolean; onPrevious: () => void; onNext: () => void; label: string;
}) {
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={onPrevious} disabled={!hasPrevious}>Previous page</button>
      <span aria-live="polite">Page {page}</span>
      <button type="button" onClick={onNext} disabled={!hasNext}>Next page</button>
    </nav>
  );
}
