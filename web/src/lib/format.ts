/** Display helpers for times and ratios (numbers that are not money). */

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatPercent(value: number | null | undefined, places = 2, signed = true): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const text = value.toFixed(places);
  return `${signed && value > 0 ? '+' : ''}${text}%`;
}

/** A fraction (0.0123) as a percentage ("1.23%"). */
export function formatFraction(value: number | null | undefined, places = 2, signed = false): string {
  if (value === null || value === undefined) return '—';
  return formatPercent(value * 100, places, signed);
}

export function formatNumber(value: number | null | undefined, places = 2): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: places, maximumFractionDigits: places });
}
