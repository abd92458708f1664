import { vi } from 'vitest';
import type { FeedEvent } from '../api/types';
import { saveSession, sessionFromToken } from '../auth/session';

/** A fake of the Halyard API for component tests: routes by "METHOD /path", records every call. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

export interface FakeAnswer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (request: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;

export function fakeToken(claims: Record<string, unknown>): string {
  const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}.signature`;
}

export function signInAs(user: string, tenant: string, roles: string[], ttlSeconds = 3600): string {
  const token = fakeToken({ sub: user, tid: tenant, roles, name: user, exp: Math.floor(Date.now() / 1000) + ttlSeconds });
  saveSession(sessionFromToken(token, 'dev'));
  return token;
}

export const operational = {
  state: 'operational', productDisabled: false, killSwitch: { active: false }, maintenance: { active: false },
  globalHalt: { active: false }, tradingAllowed: true,
};

export class FakeBackend {
  readonly calls: FakeRequest[] = [];
  private readonly routes = new Map<string, Handler>();
  private pending: FeedEvent[] = [];
  private waiters: (() => void)[] = [];
  private seq = 0;

  constructor(routes: Record<string, Handler | FakeAnswer['body']> = {}) {
    this.on('GET /api/product/status', () => ({ body: operational }));
    this.on('GET /api/feature-flags', () => ({ body: { flags: {} } }));
    this.on('GET /api/v1/profiles', () => ({ body: { items: [] } }));
    this.on('GET /api/v1/positions', () => ({ body: { items: [] } }));
    this.on('GET /api/v1/events', (req) => this.events(req));
    for (const [key, value] of Object.entries(routes)) {
      this.on(key, typeof value === 'function' ? (value as Handler) : () => ({ body: value }));
    }
  }

  on(key: string, handler: Handler): this {
    this.routes.set(key, handler);
    return this;
  }

  /** Publish an event to the long-poll feed. */
  push(type: string, data: Record<string, unknown>): void {
    this.seq += 1;
    this.pending.push({ id: `global:${this.seq}`, stream: 'global', seq: this.seq, type, data, at: new Date().toISOString(), requestId: `req-${this.seq}` });
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async events(req: FakeRequest): Promise<FakeAnswer> {
    if (!req.query.get('after')) return { body: { items: [], cursor: 'c0' } };
    if (this.pending.length === 0) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    const items = this.pending.splice(0);
    return { body: { items, cursor: `c${this.seq}` } };
  }

  callsTo(method: string, path: string): FakeRequest[] {
    return this.calls.filter((c) => c.method === method && c.path === path);
  }

  install(): this {
    vi.stubGlobal('fetch', vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input), 'http://localhost');
      const method = (init?.method ?? 'GET').toUpperCase();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries((init?.headers ?? {}) as Record<string, string>)) headers[k.toLowerCase()] = v;
      const body = typeof init?.body === 'string' && init.body ? JSON.parse(init.body) as unknown : undefined;
      const request = { method, path: url.pathname, query: url.searchParams, body, headers };
      this.calls.push(request);
      const handler = this.routes.get(`${method} ${url.pathname}`);
      const answer = handler ? await handler(request) : {
        status: 404, body: { type: 'about:blank', title: 'Not found', status: 404, detail: `no fake for ${method} ${url.pathname}`, requestId: 'fake-404' },
      };
      const status = answer.status ?? 200;
      const requestId = headers['x-request-id'] ?? 'fake';
      return new Response(status === 204 ? null : JSON.stringify(answer.body ?? null), {
        status,
        headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'x-request-id': requestId, ...answer.headers },
      });
    }));
    return this;
  }
}
