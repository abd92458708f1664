import { describe, expect, it } from 'vitest';
import type { Profile } from '../../api/types';
import { fieldsOf, replacementBody } from './profileForm';

const profile: Profile = {
  id: 'p1', tenantId: 'demo', accountId: 'demo-paper-1', name: 'BTC 7-rule', exchange: 'paper', mode: 'paper', symbols: ['BTCUSDT'],
  interval: '1h', strategyId: 's', strategyVersion: 1, enabled: true, createdAt: '', updatedAt: '',
  risk: { maxPositionNotional: '8000', exposureCapNotional: '8000', maxOpenOrders: 5, dailyLossLimit: '500', riskPerTradePct: '1', haltCooldownMinutes: 60 },
};

describe('profile settings form', () => {
  it('builds the full replacement with money as decimal strings', () => {
    const result = replacementBody(profile, { ...fieldsOf(profile), dailyLossLimit: '250.50', symbols: 'btcusdt, ethusdt', enabled: false });
    expect(result).toHaveProperty('body');
    const body = (result as { body: Record<string, unknown> }).body;
    expect(body).toMatchObject({ id: 'p1', tenantId: 'demo', symbols: ['BTCUSDT', 'ETHUSDT'], enabled: false });
    expect(body.risk).toMatchObject({ dailyLossLimit: '250.50', maxOpenOrders: 5 });
  });

  it('reports invalid fields instead of sending them', () => {
    const result = replacementBody(profile, { ...fieldsOf(profile), name: ' ', maxOpenOrders: '2.5', dailyLossLimit: '-1' });
    expect(result).toEqual({ errors: { name: expect.any(String), maxOpenOrders: expect.any(String), dailyLossLimit: expect.any(String) } });
  });
});
