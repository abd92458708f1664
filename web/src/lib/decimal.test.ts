import { describe, expect, it } from 'vitest';
import { addDecimals, compareDecimals, formatDecimal, formatQuantity, parseDecimal, subtractDecimals } from './decimal';

describe('decimal strings', () => {
  it('adds exactly where floats would not', () => {
    expect(0.1 + 0.2).not.toBe(0.3); // why this module exists
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(addDecimals('9992.07841796918', '-1.58', '0.00000000001')).toBe('9990.49841796919');
    expect(addDecimals()).toBe('0');
    expect(addDecimals('-7.92158203082', '7.92158203082')).toBe('0');
  });

  it('subtracts and compares', () => {
    expect(subtractDecimals('10', '0.001')).toBe('9.999');
    expect(subtractDecimals('1', '-2')).toBe('3');
    expect(compareDecimals('27562.82', '27562.820')).toBe(0);
    expect(compareDecimals('-1', '0.5')).toBe(-1);
    expect(compareDecimals('100.01', '100.001')).toBe(1);
  });

  it('refuses what is not a decimal string', () => {
    expect(() => parseDecimal('1e5')).toThrow();
    expect(() => parseDecimal('abc')).toThrow();
  });

  it('formats money with grouping, rounding half away from zero and an optional sign', () => {
    expect(formatDecimal('1234567.891')).toBe('1,234,567.89');
    expect(formatDecimal('0.005')).toBe('0.01');
    expect(formatDecimal('-0.005')).toBe('-0.01');
    expect(formatDecimal('-0.004')).toBe('0.00');
    expect(formatDecimal('15.08280448', { signed: true })).toBe('+15.08');
    expect(formatDecimal('-1.5', { signed: true })).toBe('-1.50');
    expect(formatDecimal('7.92158203082', { places: 4 })).toBe('7.9216');
    expect(formatDecimal(null)).toBe('—');
  });

  it('formats quantities keeping their digits', () => {
    expect(formatQuantity('0.287401')).toBe('0.287401');
    expect(formatQuantity('1200.500000')).toBe('1,200.5');
    expect(formatQuantity('0.123456789', 8)).toBe('0.12345679');
  });
});
