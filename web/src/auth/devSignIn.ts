/**
 * The devhost's development sign-in (served only when HALYARD_ENVIRONMENT=development):
 *
 *   GET  /admin/dev/users  -> {"users": [{"user", "tenant", "roles": [...], "label"}]}
 *   POST /admin/dev/token  {"user", "tenant", "roles"} -> {"token", "expiresAt", ...}
 *
 * `expiresAt` is an ISO time or epoch seconds. A 404 means the endpoint is not offered
 * (production, or an older devhost).
 */

export interface DevUser {
  user: string;
  tenant: string;
  roles: string[];
  label?: string;
}

export interface DevToken {
  token: string;
  expiresAt: number; // epoch ms
}

export async function listDevUsers(fetchImpl: typeof fetch = fetch): Promise<DevUser[] | null> {
  let response: Response;
  try {
    response = await fetchImpl('/admin/dev/users', { headers: { accept: 'application/json' } });
  } catch {
    return null;
  }
  if (!response.ok) return null;
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) return null; // an SPA fallback answering HTML: not the endpoint
  const body = (await response.json()) as { users?: unknown };
  if (!Array.isArray(body.users)) return null;
  return body.users.filter((u): u is DevUser =>
    typeof u === 'object' && u !== null && typeof (u as DevUser).user === 'string'
    && typeof (u as DevUser).tenant === 'string' && Array.isArray((u as DevUser).roles));
}

export function parseExpiresAt(value: unknown): number | null {
  if (typeof value === 'number') return value > 1e12 ? value : value * 1000;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export async function requestDevToken(user: DevUser, fetchImpl: typeof fetch = fetch): Promise<DevToken> {
  const response = await fetchImpl('/admin/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ user: user.user, tenant: user.tenant, roles: user.roles }),
  });
  const body = (await response.json().catch(() => ({}))) as { token?: string; expiresAt?: unknown; detail?: string; requestId?: string };
  if (!response.ok || !body.token) {
    const id = body.requestId ? ` (request id ${body.requestId})` : '';
    throw new Error(`${body.detail ?? `The dev token endpoint answered HTTP ${response.status}`}${id}`);
  }
  return { token: body.token, expiresAt: parseExpiresAt(body.expiresAt) ?? Date.now() + 3600_000 };
}
