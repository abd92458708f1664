import type { Role } from '../api/types';

/** The signed-in user, kept in localStorage so that a reload keeps the session. */
export interface Session {
  token: string;
  userId: string;
  tenantId: string;
  displayName: string;
  roles: Role[];
  role: Role;
  expiresAt: number; // epoch ms
  source: 'dev' | 'oidc' | 'token';
}

export const SESSION_KEY = 'halyard.session';
export const RETURN_TO_KEY = 'halyard.returnTo';

export const ROLE_ORDER: readonly Role[] = ['viewer', 'trader', 'operator', 'admin'];

export function roleRank(role: Role | string): number {
  return ROLE_ORDER.indexOf(role as Role);
}

export function highestRole(roles: readonly string[]): Role {
  let best: Role = 'viewer';
  for (const role of roles) if (roleRank(role) > roleRank(best)) best = role as Role;
  return best;
}

export function hasRole(session: Pick<Session, 'role'> | null, minimum: Role): boolean {
  return session !== null && roleRank(session.role) >= roleRank(minimum);
}

function base64UrlDecode(part: string): string {
  const padded = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT (not verified here: the API verifies every call). */
export function decodeClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) throw new Error('not a JWT');
  const claims: unknown = JSON.parse(base64UrlDecode(parts[1]));
  if (typeof claims !== 'object' || claims === null) throw new Error('JWT claims are not an object');
  return claims as Record<string, unknown>;
}

function stringClaim(claims: Record<string, unknown>, ...names: string[]): string | null {
  for (const name of names) {
    const value = claims[name];
    if (typeof value === 'string' && value) return value;
  }
  return null;
}

export function sessionFromToken(token: string, source: Session['source'], expiresAt?: number): Session {
  const claims = decodeClaims(token);
  const userId = stringClaim(claims, 'sub', 'oid', 'preferred_username');
  const tenantId = stringClaim(claims, 'tid', 'tenant');
  if (!userId || !tenantId) throw new Error('the token names no user or tenant');
  const rawRoles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  const roles = rawRoles.filter((r): r is Role => roleRank(r) >= 0);
  if (roles.length === 0) throw new Error('the token carries no Halyard role');
  const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  return {
    token, userId, tenantId, roles, role: highestRole(roles), source,
    displayName: stringClaim(claims, 'name', 'preferred_username') ?? userId,
    expiresAt: expiresAt ?? exp ?? Date.now() + 3600_000,
  };
}

export function loadSession(storage: Storage = localStorage, now = Date.now()): Session | null {
  const raw = storage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const session = JSON.parse(raw) as Session;
    if (typeof session.token !== 'string' || typeof session.expiresAt !== 'number') return null;
    return session.expiresAt > now ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session, storage: Storage = localStorage): void {
  storage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(storage: Storage = localStorage): void {
  storage.removeItem(SESSION_KEY);
}

/** Where to go back to after signing in again; never an external URL or a sign-in page. */
export function safeReturnTo(value: string | null | undefined): string {
  if (!value || !value.startsWith('/') || value.startsWith('//')) return '/';
  if (value.startsWith('/sign-in') || value.startsWith('/auth/')) return '/';
  return value;
}

export function rememberReturnTo(path: string, storage: Storage = sessionStorage): void {
  storage.setItem(RETURN_TO_KEY, safeReturnTo(path));
}

export function takeReturnTo(storage: Storage = sessionStorage): string {
  const value = storage.getItem(RETURN_TO_KEY);
  storage.removeItem(RETURN_TO_KEY);
  return safeReturnTo(value);
}
