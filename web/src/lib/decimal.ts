/**
 * Decimal strings from the API (money, quantities) are never turned into floats for
 * anything shown as money: they are summed, compared and formatted here exactly, as
 * scaled BigInts.
 */

export interface Dec {
  readonly units: bigint; // value * 10^scale
  readonly scale: number;
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

export function isDecimal(text: string): boolean {
  return DECIMAL.test(text.trim());
}

export function parseDecimal(text: string): Dec {
  const match = DECIMAL.exec(text.trim());
  if (!match) throw new Error(`not a decimal string: ${JSON.stringify(text)}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const units = BigInt(whole + fraction) * (sign === '-' ? -1n : 1n);
  return { units, scale: fraction.length };
}

function rescale(value: Dec, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

export function addDecimals(...values: readonly string[]): string {
  if (values.length === 0) return '0';
  const parsed = values.map(parseDecimal);
  const scale = Math.max(...parsed.map((v) => v.scale));
  const sum = parsed.reduce((acc, v) => acc + rescale(v, scale), 0n);
  return toPlainString({ units: sum, scale });
}

export function subtractDecimals(a: string, b: string): string {
  const negated = b.trim().startsWith('-') ? b.trim().slice(1) : `-${b.trim().replace(/^\+/, '')}`;
  return addDecimals(a, negated);
}

export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function signOf(value: string): -1 | 0 | 1 {
  return compareDecimals(value, '0');
}

/** The exact value as a plain decimal string, trailing fraction zeros removed. */
export function toPlainString(value: Dec): string {
  const negative = value.units < 0n;
  const digits = (negative ? -value.units : value.units).toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale).replace(/0+$/, '');
  const body = fraction ? `${whole}.${fraction}` : whole;
  return negative && /[1-9]/.test(body) ? `-${body}` : body;
}

/** Rounds half away from zero to `places` fraction digits. */
export function roundDecimal(text: string, places: number): Dec {
  const value = parseDecimal(text);
  if (value.scale <= places) return { units: rescale(value, places), scale: places };
  const divisor = 10n ** BigInt(value.scale - places);
  const abs = value.units < 0n ? -value.units : value.units;
  let q = abs / divisor;
  if ((abs % divisor) * 2n >= divisor) q += 1n;
  return { units: value.units < 0n ? -q : q, scale: places };
}

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export interface FormatOptions {
  places?: number;
  /** Show "+" before positive values (PnL). */
  signed?: boolean;
}

/** "1234.5678" -> "1,234.57" (exact, no float on the way). */
export function formatDecimal(text: string | null | undefined, options: FormatOptions = {}): string {
  if (text === null || text === undefined || text === '') return '—';
  if (!isDecimal(text)) return text;
  const places = options.places ?? 2;
  const rounded = roundDecimal(text, places);
  const negative = rounded.units < 0n;
  const digits = (negative ? -rounded.units : rounded.units).toString().padStart(places + 1, '0');
  const whole = group(digits.slice(0, digits.length - places));
  const fraction = places > 0 ? `.${digits.slice(digits.length - places)}` : '';
  const isZero = rounded.units === 0n;
  const sign = negative && !isZero ? '-' : options.signed && !isZero ? '+' : '';
  return `${sign}${whole}${fraction}`;
}

/** Quantities keep their significant digits (up to `maxPlaces`). */
export function formatQuantity(text: string | null | undefined, maxPlaces = 8): string {
  if (text === null || text === undefined || text === '') return '—';
  if (!isDecimal(text)) return text;
  const plain = toPlainString(roundDecimal(text, maxPlaces));
  const [whole = '0', fraction] = plain.replace(/^-/, '').split('.');
  return `${plain.startsWith('-') ? '-' : ''}${group(whole)}${fraction ? `.${fraction}` : ''}`;
}
