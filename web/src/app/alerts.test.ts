import { describe, expect, it } from 'vitest';
import { alertFromEvent } from './AlertsProvider';
import { visibleTabs } from './tabs';

const ev = (type: string, data: Record<string, unknown>) => ({ id: 'x', stream: 'global', seq: 1, type, data, at: '2023-01-01T00:00:00Z', requestId: 'r' });

describe('alerts and tabs', () => {
  it('turns notable feed events into alerts', () => {
    expect(alertFromEvent(ev('control.changed', { kind: 'halt', scope: 'global', active: true, actor: 'olga', reason: 'incident' })))
      .toMatchObject({ severity: 'critical', text: 'Trading halt (global) set by olga: incident' });
    expect(alertFromEvent(ev('order.updated', { id: 'o1', status: 'rejected', side: 'buy', symbol: 'BTCUSDT', rejectReason: 'exposure cap' }))?.severity).toBe('warning');
    expect(alertFromEvent(ev('order.updated', { id: 'o1', status: 'filled' }))).toBeNull();
  });

  it('shows tabs by feature flag and role', () => {
    const labels = (flags: Record<string, boolean>, admin: boolean) => visibleTabs(flags, (r) => admin || r === 'viewer').map((t) => t.label);
    expect(labels({}, false)).not.toContain('Admin');
    expect(labels({}, true)).toContain('Admin');
    expect(labels({ charts: false, orders: false }, true)).not.toEqual(expect.arrayContaining(['Chart']));
    expect(labels({ orders: false }, true)).not.toContain('Trade history');
  });
});
