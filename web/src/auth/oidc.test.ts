import { describe, expect, it, vi } from 'vitest';
import { oidcConfig } from './config';
import { authorizeUrl, completeSignIn } from './oidc';
import { s256Challenge } from './pkce';

const config = oidcConfig({ VITE_OIDC_ISSUER: 'https://login.example.com/t/v2.0/', VITE_OIDC_CLIENT_ID: 'spa-client' }, 'https://halyard.example')!;

function issuerFetch(tokenAnswer: unknown, status = 200) {
  return vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    if (String(url).endsWith('/.well-known/openid-configuration')) {
      return new Response(JSON.stringify({ authorization_endpoint: 'https://login.example.com/authorize', token_endpoint: 'https://login.example.com/token' }));
    }
    expect(init?.method).toBe('POST');
    return new Response(JSON.stringify(tokenAnswer), { status });
  });
}

describe('OIDC authorization code + PKCE', () => {
  it('is configured only with an issuer and a client id', () => {
    expect(oidcConfig({}, 'x')).toBeNull();
    expect(config).toEqual({ issuer: 'https://login.example.com/t/v2.0', clientId: 'spa-client', scope: 'openid profile', redirectUri: 'https://halyard.example/auth/callback' });
  });

  it('asks for a code with an S256 challenge of the verifier', async () => {
    const url = new URL(await authorizeUrl(config, 'https://login.example.com/authorize', { state: 's1', verifier: 'v'.repeat(43), returnTo: '/x' }));
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toBe(await s256Challenge('v'.repeat(43)));
    expect(url.searchParams.get('redirect_uri')).toBe('https://halyard.example/auth/callback');
  });

  it('redeems the code with the verifier and returns to the page the user was on', async () => {
    sessionStorage.setItem('halyard.oidc.pending', JSON.stringify({ state: 's1', verifier: 'the-verifier', returnTo: '/orders' }));
    const fetchImpl = issuerFetch({ access_token: 'at', expires_in: 600 });
    const answer = await completeSignIn(config, '?code=c1&state=s1', sessionStorage, fetchImpl);
    expect(answer.token).toBe('at');
    expect(answer.returnTo).toBe('/orders');
    const body = new URLSearchParams(String((fetchImpl.mock.calls[1] as unknown as [string, RequestInit])[1].body));
    expect(body.get('code_verifier')).toBe('the-verifier');
    expect(body.get('code')).toBe('c1');
    expect(sessionStorage.getItem('halyard.oidc.pending')).toBeNull();
  });

  it('refuses an answer for another tab (state mismatch) and an issuer error', async () => {
    sessionStorage.setItem('halyard.oidc.pending', JSON.stringify({ state: 's1', verifier: 'v', returnTo: '/' }));
    await expect(completeSignIn(config, '?code=c1&state=other', sessionStorage, issuerFetch({}))).rejects.toThrow(/state mismatch/);
    await expect(completeSignIn(config, '?error=access_denied&error_description=nope', sessionStorage, issuerFetch({}))).rejects.toThrow(/access_denied: nope/);
  });
});
