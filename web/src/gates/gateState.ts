import type { Control, ControlFlag, ProductStatus } from '../api/types';

/** What the surfaces must show about kill switch, maintenance and trading halts. */
export interface ControlInfo {
  scope: string; // "product" | "global" | "tenant:<id>" | "profile:<id>"
  id: string; // "kill-switch" | "maintenance" | "halt"
  active: boolean;
  reason: string;
  actor: string;
  since: string | null;
  until: string | null;
  automatic: boolean;
  version: number | null;
}

export interface GateState {
  known: boolean; // false until the first status read, and when the status says "unknown"
  controls: Record<string, ControlInfo>;
}

export const initialGate: GateState = { known: false, controls: {} };

export function controlKey(scope: string, id: string): string {
  return `${scope}/${id}`;
}

function fromFlag(scope: string, id: string, flag: ControlFlag | null | undefined): ControlInfo {
  return {
    scope, id, active: Boolean(flag?.active), reason: flag?.reason ?? '', actor: flag?.actor ?? '',
    since: flag?.since ?? null, until: flag?.until ?? null, automatic: false, version: null,
  };
}

/** The public status (kill switch, maintenance, global halt), read fresh: it replaces those three. */
export function applyStatus(state: GateState, status: ProductStatus): GateState {
  if (status.state === 'unknown') {
    // Fail closed: unknown control state is shown as disabled.
    return { known: false, controls: { ...state.controls } };
  }
  return {
    known: true,
    controls: {
      ...state.controls,
      [controlKey('product', 'kill-switch')]: fromFlag('product', 'kill-switch', status.killSwitch),
      [controlKey('product', 'maintenance')]: fromFlag('product', 'maintenance', status.maintenance),
      [controlKey('global', 'halt')]: fromFlag('global', 'halt', status.globalHalt),
    },
  };
}

/** A control document (admin list or a `control.changed` event); an older version never wins. */
export function applyControl(state: GateState, control: Control): GateState {
  const key = controlKey(control.scope, control.id);
  const known = state.controls[key];
  if (known?.version != null && control.version < known.version) return state;
  return {
    ...state,
    controls: {
      ...state.controls,
      [key]: {
        scope: control.scope, id: control.id, active: control.active, reason: control.reason ?? '',
        actor: control.actor ?? '', since: control.since ?? null, until: control.until ?? null,
        automatic: Boolean(control.automatic), version: control.version ?? null,
      },
    },
  };
}

/**
 * The server decides whether a control is in force (its clock may be a replay clock,
 * so `until` is not compared with the browser's); the status read and the periodic
 * resync drop a control whose `until` has passed.
 */
export function isActive(info: ControlInfo | undefined): boolean {
  return Boolean(info?.active);
}

export function productDisabled(state: GateState): boolean {
  return !state.known || isActive(state.controls[controlKey('product', 'kill-switch')]);
}

export function maintenance(state: GateState): ControlInfo | null {
  const info = state.controls[controlKey('product', 'maintenance')];
  return isActive(info) ? info ?? null : null;
}

const SCOPE_ORDER = ['global', 'tenant', 'profile'];

/** Active trading halts, global first, then tenant, then profiles. */
export function activeHalts(state: GateState): ControlInfo[] {
  return Object.values(state.controls)
    .filter((c) => c.id === 'halt' && isActive(c))
    .sort((a, b) => SCOPE_ORDER.indexOf(a.scope.split(':')[0] ?? '') - SCOPE_ORDER.indexOf(b.scope.split(':')[0] ?? '')
      || a.scope.localeCompare(b.scope));
}

export function haltLabel(scope: string): string {
  if (scope === 'global') return 'All trading is halted';
  if (scope.startsWith('tenant:')) return `Trading is halted for tenant ${scope.slice('tenant:'.length)}`;
  if (scope.startsWith('profile:')) return `Trading is halted for profile ${scope.slice('profile:'.length)}`;
  return `Trading is halted (${scope})`;
}

export function isControl(value: unknown): value is Control {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Partial<Control>;
  return typeof c.id === 'string' && typeof c.scope === 'string' && typeof c.active === 'boolean';
}
