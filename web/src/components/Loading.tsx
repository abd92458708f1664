export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <p role="status" aria-live="polite" className="muted">{label}</p>;
}

export function Empty({ children }: { children: string }) {
  return <p className="muted empty">{children}</p>;
}
