import type { Profile } from '../../api/types';
import { isDecimal } from '../../lib/decimal';

export interface ProfileFields {
  name: string;
  enabled: boolean;
  symbols: string;
  maxPositionNotional: string;
  exposureCapNotional: string;
  maxOpenOrders: string;
  dailyLossLimit: string;
  riskPerTradePct: string;
  haltCooldownMinutes: string;
}

export function fieldsOf(p: Profile): ProfileFields {
  return {
    name: p.name, enabled: p.enabled, symbols: p.symbols.join(', '),
    maxPositionNotional: String(p.risk.maxPositionNotional), exposureCapNotional: String(p.risk.exposureCapNotional),
    maxOpenOrders: String(p.risk.maxOpenOrders), dailyLossLimit: String(p.risk.dailyLossLimit),
    riskPerTradePct: String(p.risk.riskPerTradePct), haltCooldownMinutes: String(p.risk.haltCooldownMinutes),
  };
}

/** The full replacement body (PUT with If-Match), or the field errors. Money stays decimal strings. */
export function replacementBody(p: Profile, f: ProfileFields): { body: Record<string, unknown> } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (!f.name.trim()) errors.name = 'A name is required.';
  const symbols = f.symbols.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (symbols.length === 0) errors.symbols = 'At least one symbol.';
  for (const key of ['maxPositionNotional', 'exposureCapNotional', 'dailyLossLimit', 'riskPerTradePct'] as const) {
    if (!isDecimal(f[key]) || f[key].trim().startsWith('-')) errors[key] = 'A non-negative decimal number.';
  }
  for (const key of ['maxOpenOrders', 'haltCooldownMinutes'] as const) {
    if (!/^\d+$/.test(f[key].trim())) errors[key] = 'A whole number.';
  }
  if (Object.keys(errors).length > 0) return { errors };
  return {
    body: {
      id: p.id, tenantId: p.tenantId, accountId: p.accountId, name: f.name.trim(), exchange: p.exchange, mode: p.mode,
      symbols, interval: p.interval, strategyId: p.strategyId, strategyVersion: p.strategyVersion, enabled: f.enabled,
      risk: {
        maxPositionNotional: f.maxPositionNotional.trim(), exposureCapNotional: f.exposureCapNotional.trim(),
        maxOpenOrders: Number(f.maxOpenOrders), dailyLossLimit: f.dailyLossLimit.trim(),
        riskPerTradePct: f.riskPerTradePct.trim(), haltCooldownMinutes: Number(f.haltCooldownMinutes),
      },
    },
  };
}
