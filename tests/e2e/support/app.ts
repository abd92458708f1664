/** Helpers shared by the acceptance tests: sign-in through the UI, and the API as the test's oracle. */
import { inject } from 'vitest';
import type { Page } from 'playwright-core';

export const baseUrl = () => inject('baseUrl');
export const apiUrl = () => inject('apiUrl');

export interface DevUser {
  user: string;
  tenant: string;
}

export const TOM: DevUser = { user: 'tom', tenant: 'demo' }; // trader
export const OLGA: DevUser = { user: 'olga', tenant: 'demo' }; // operator
export const OTTO: DevUser = { user: 'otto', tenant: 'demo' }; // second operator
export const ABE: DevUser = { user: 'abe', tenant: 'demo' }; // admin
export const ADA: DevUser = { user: 'ada', tenant: 'demo' }; // viewer
export const BEA: DevUser = { user: 'bea', tenant: 'tenant-b' }; // trader of the other tenant

/** Signs in through the dashboard's development sign-in page. */
export async function signIn(page: Page, who: DevUser, path = '/'): Promise<void> {
  await page.goto(`${baseUrl()}/sign-in${path !== '/' ? `?returnTo=${encodeURIComponent(path)}` : ''}`);
  await page.getByTestId(`dev-user-${who.tenant}-${who.user}`).click();
  await page.getByTestId('who').waitFor();
}

/**
 * Opens a view the way a user does inside the app (History API + popstate), without
 * loading a new document: the page keeps its event feed, as it does in real use, and no
 * abandoned long-poll is left holding a devhost worker.
 */
export async function visit(page: Page, path: string): Promise<void> {
  await page.evaluate((to) => {
    window.history.pushState(null, '', to);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, path);
  await page.waitForURL((url) => `${url.pathname}${url.search}` === path);
}

const tokens = new Map<string, string>();

/** A token from the devhost's dev sign-in endpoint (the same one the page uses). */
export async function tokenFor(who: DevUser): Promise<string> {
  const key = `${who.tenant}/${who.user}`;
  const cached = tokens.get(key);
  if (cached) return cached;
  const response = await fetch(`${apiUrl()}/admin/dev/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who),
  });
  if (!response.ok) throw new Error(`dev token for ${key}: HTTP ${response.status} ${await response.text()}`);
  const { token } = (await response.json()) as { token: string };
  tokens.set(key, token);
  return token;
}

export async function api<T>(who: DevUser, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const response = await fetch(`${apiUrl()}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${await tokenFor(who)}`, 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: HTTP ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

interface Control { id: string; scope: string; active: boolean; etag: string }

/** Clears every active control (tests leave the product as they found it). */
export async function clearAllControls(): Promise<void> {
  const { items } = await api<{ items: Control[] }>(ABE, '/api/admin/controls');
  for (const control of items.filter((c) => c.active)) {
    const path = control.scope === 'product' ? `/api/admin/controls/${control.id}`
      : control.scope === 'global' ? '/api/admin/controls/global-halt'
        : control.scope.startsWith('tenant:') ? '/api/admin/controls/tenant-halt'
          : `/api/admin/controls/profiles/${control.scope.slice('profile:'.length)}/halt`;
    await api(ABE, path, { method: 'PUT', body: { active: false, reason: 'e2e cleanup' }, headers: { 'if-match': control.etag } });
  }
}

/** Polls `check` until it returns true (or throws its last failure). */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      last = null;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
