import type { ControlTarget } from '../../api/endpoints';
import type { Control, Profile, Role } from '../../api/types';

export interface TargetRow {
  key: string;
  title: string;
  target: ControlTarget;
  scope: string;
  id: string;
  minRole: Role;
  /** What setting it does, for the confirmation. */
  effect: string;
}

export function controlTargets(tenantId: string, profiles: Profile[]): TargetRow[] {
  return [
    { key: 'kill-switch', title: 'Product kill switch', target: { kind: 'kill-switch' }, scope: 'product', id: 'kill-switch', minRole: 'admin',
      effect: 'Every surface shows "product disabled"; no trading; only health, status and the admin API answer.' },
    { key: 'maintenance', title: 'Maintenance', target: { kind: 'maintenance' }, scope: 'product', id: 'maintenance', minRole: 'admin',
      effect: 'Surfaces become read-only with a banner; trading follows the halts.' },
    { key: 'global-halt', title: 'Global trading halt', target: { kind: 'global-halt' }, scope: 'global', id: 'halt', minRole: 'operator',
      effect: 'No new orders anywhere, for every tenant; cancels are still allowed.' },
    { key: 'tenant-halt', title: `Tenant halt (${tenantId})`, target: { kind: 'tenant-halt' }, scope: `tenant:${tenantId}`, id: 'halt', minRole: 'operator',
      effect: `No new orders for tenant ${tenantId}; cancels are still allowed.` },
    ...profiles.map((p): TargetRow => ({
      key: `profile:${p.id}`, title: `Profile halt: ${p.name}`, target: { kind: 'profile-halt', profileId: p.id }, scope: `profile:${p.id}`,
      id: 'halt', minRole: 'operator', effect: `No new orders for profile ${p.name}; cancels are still allowed.`,
    })),
  ];
}

export function findControl(controls: Control[], row: Pick<TargetRow, 'scope' | 'id'>): Control | undefined {
  return controls.find((c) => c.scope === row.scope && c.id === row.id);
}
