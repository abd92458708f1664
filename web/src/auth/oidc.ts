import type { OidcConfig } from './config';
import { randomVerifier, s256Challenge } from './pkce';

/**
 * OIDC authorization code flow with PKCE for a public client (the SPA). The verifier,
 * state and the page to return to live in sessionStorage only for the round trip.
 */

const PENDING_KEY = 'halyard.oidc.pending';

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

interface Pending {
  state: string;
  verifier: string;
  returnTo: string;
}

export async function discover(issuer: string, fetchImpl: typeof fetch = fetch): Promise<Discovery> {
  const response = await fetchImpl(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`OIDC discovery failed: HTTP ${response.status}`);
  const doc = (await response.json()) as Partial<Discovery>;
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error('OIDC discovery document is incomplete');
  return { authorization_endpoint: doc.authorization_endpoint, token_endpoint: doc.token_endpoint };
}

export async function authorizeUrl(config: OidcConfig, endpoint: string, pending: Pending): Promise<string> {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scope,
    state: pending.state,
    code_challenge: await s256Challenge(pending.verifier),
    code_challenge_method: 'S256',
  });
  return `${endpoint}?${params.toString()}`;
}

export async function startSignIn(config: OidcConfig, returnTo: string, storage: Storage = sessionStorage): Promise<string> {
  const { authorization_endpoint } = await discover(config.issuer);
  const pending: Pending = { state: randomVerifier(16), verifier: randomVerifier(), returnTo };
  storage.setItem(PENDING_KEY, JSON.stringify(pending));
  return authorizeUrl(config, authorization_endpoint, pending);
}

export interface TokenAnswer {
  token: string;
  expiresAt: number;
  returnTo: string;
}

/** Handles `/auth/callback?code=&state=`: checks the state, redeems the code with the verifier. */
export async function completeSignIn(config: OidcConfig, search: string, storage: Storage = sessionStorage,
  fetchImpl: typeof fetch = fetch): Promise<TokenAnswer> {
  const params = new URLSearchParams(search);
  const error = params.get('error');
  if (error) throw new Error(`${error}: ${params.get('error_description') ?? 'sign-in was refused'}`);
  const raw = storage.getItem(PENDING_KEY);
  storage.removeItem(PENDING_KEY);
  if (!raw) throw new Error('No sign-in was in progress in this tab; start again.');
  const pending = JSON.parse(raw) as Pending;
  const code = params.get('code');
  if (!code || params.get('state') !== pending.state) throw new Error('The sign-in answer does not match this tab (state mismatch).');
  const { token_endpoint } = await discover(config.issuer, fetchImpl);
  const response = await fetchImpl(token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: config.redirectUri,
      client_id: config.clientId, code_verifier: pending.verifier,
    }).toString(),
  });
  if (!response.ok) throw new Error(`The token endpoint answered HTTP ${response.status}`);
  const answer = (await response.json()) as { access_token?: string; expires_in?: number };
  if (!answer.access_token) throw new Error('The token endpoint returned no access token');
  return { token: answer.access_token, expiresAt: Date.now() + (answer.expires_in ?? 3600) * 1000, returnTo: pending.returnTo };
}
