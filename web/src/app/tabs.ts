import type { Role } from '../api/types';

export interface Tab {
  path: string;
  label: string;
  /** The feature flag that turns the tab off (GET /api/feature-flags). */
  flag?: string;
  minRole: Role;
}

export const TABS: Tab[] = [
  { path: '/', label: 'Overview', minRole: 'viewer' },
  { path: '/markets', label: 'Markets', flag: 'markets', minRole: 'viewer' },
  { path: '/chart', label: 'Chart', flag: 'charts', minRole: 'viewer' },
  { path: '/orders', label: 'Orders', flag: 'orders', minRole: 'viewer' },
  { path: '/positions', label: 'Positions', flag: 'positions', minRole: 'viewer' },
  { path: '/trades', label: 'Trade history', flag: 'orders', minRole: 'viewer' },
  { path: '/decisions', label: 'Decisions', flag: 'decisions', minRole: 'viewer' },
  { path: '/strategies', label: 'Strategies', flag: 'strategies', minRole: 'viewer' },
  { path: '/operations', label: 'Admin', flag: 'admin', minRole: 'operator' },
  { path: '/settings', label: 'Settings', minRole: 'viewer' },
];

/** The tab a path belongs to (`/strategies/x` is under Strategies). */
export function tabFor(pathname: string): Tab | undefined {
  if (pathname === '/') return TABS[0];
  return TABS.find((t) => t.path !== '/' && (pathname === t.path || pathname.startsWith(`${t.path}/`)));
}

export function visibleTabs(flags: Record<string, boolean>, canSee: (role: Role) => boolean): Tab[] {
  return TABS.filter((t) => (t.flag === undefined || flags[t.flag] !== false) && canSee(t.minRole));
}
