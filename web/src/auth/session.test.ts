import { describe, expect, it } from 'vitest';
import { fakeToken } from '../test/fakeBackend';
import { base64Url, s256Challenge } from './pkce';
import { hasRole, highestRole, loadSession, safeReturnTo, saveSession, sessionFromToken } from './session';

describe('session', () => {
  it('reads user, tenant, roles and expiry from the token claims', () => {
    const token = fakeToken({ sub: 'tom', tid: 'demo', roles: ['viewer', 'operator', 'bogus'], name: 'Tom', exp: 2_000_000_000 });
    const session = sessionFromToken(token, 'dev');
    expect(session).toMatchObject({ userId: 'tom', tenantId: 'demo', roles: ['viewer', 'operator'], role: 'operator', displayName: 'Tom', expiresAt: 2_000_000_000_000 });
    expect(hasRole(session, 'trader')).toBe(true);
    expect(hasRole(session, 'admin')).toBe(false);
  });

  it('refuses tokens without a tenant or a role', () => {
    expect(() => sessionFromToken(fakeToken({ sub: 'x', roles: ['trader'] }), 'dev')).toThrow(/tenant/);
    expect(() => sessionFromToken(fakeToken({ sub: 'x', tid: 't', roles: [] }), 'dev')).toThrow(/role/);
    expect(() => sessionFromToken('not-a-jwt', 'dev')).toThrow();
  });

  it('survives a reload until it expires', () => {
    const session = sessionFromToken(fakeToken({ sub: 'tom', tid: 'demo', roles: ['trader'], exp: 2_000_000_000 }), 'dev');
    saveSession(session);
    expect(loadSession(localStorage, 1_999_999_999_000)?.userId).toBe('tom');
    expect(loadSession(localStorage, 2_000_000_000_001)).toBeNull();
  });

  it('only returns to pages of this app', () => {
    expect(safeReturnTo('/orders?account=a')).toBe('/orders?account=a');
    expect(safeReturnTo('https://evil.example')).toBe('/');
    expect(safeReturnTo('//evil.example')).toBe('/');
    expect(safeReturnTo('/sign-in?expired=1')).toBe('/');
    expect(safeReturnTo(null)).toBe('/');
  });

  it('orders roles', () => {
    expect(highestRole(['trader', 'viewer'])).toBe('trader');
  });
});

describe('PKCE', () => {
  it('computes the RFC 7636 S256 challenge', async () => {
    // RFC 7636, appendix B
    expect(await s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(base64Url(new Uint8Array([251, 255]))).toBe('-_8');
  });
});
