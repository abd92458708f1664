import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { errorMessage } from '../api/problem';
import { useAsync } from '../lib/useAsync';
import { navigate, useLocation } from '../router/router';
import { oidcConfig } from './config';
import { listDevUsers, requestDevToken } from './devSignIn';
import type { DevUser } from './devSignIn';
import { startSignIn } from './oidc';
import { safeReturnTo } from './session';
import { useSession } from './SessionProvider';

export function groupByTenant(users: DevUser[]): [string, DevUser[]][] {
  const groups = new Map<string, DevUser[]>();
  for (const user of users) groups.set(user.tenant, [...(groups.get(user.tenant) ?? []), user]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export function SignInPage() {
  const { signIn } = useSession();
  const { search } = useLocation();
  const params = new URLSearchParams(search);
  const returnTo = safeReturnTo(params.get('returnTo'));
  const expired = params.get('expired') === '1';
  const oidc = oidcConfig();
  const devUsers = useAsync(() => listDevUsers(), []);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const tokenId = useId();

  const finish = (token: string, source: 'dev' | 'token', expiresAt?: number) => {
    signIn(token, source, expiresAt);
    navigate(returnTo, { replace: true });
  };

  const asDevUser = async (user: DevUser) => {
    setBusy(`${user.tenant}/${user.user}`);
    setError(null);
    try {
      const { token, expiresAt } = await requestDevToken(user);
      finish(token, 'dev', expiresAt);
    } catch (caught) {
      setError(errorMessage(caught));
      setBusy(null);
    }
  };

  const withOidc = async () => {
    if (!oidc) return;
    setBusy('oidc');
    try {
      window.location.assign(await startSignIn(oidc, returnTo));
    } catch (caught) {
      setError(errorMessage(caught));
      setBusy(null);
    }
  };

  const withToken = (event: FormEvent) => {
    event.preventDefault();
    try {
      finish(pasted.trim(), 'token');
    } catch (caught) {
      setError(`That token cannot be used: ${errorMessage(caught)}`);
    }
  };

  return (
    <main id="main" className="sign-in" tabIndex={-1}>
      <h1>Sign in to Halyard</h1>
      {expired && (
        <p role="status" className="notice" data-testid="session-expired">
          Your session expired. Sign in again to return to <code>{returnTo}</code>.
        </p>
      )}
      {error && <p role="alert" className="notice notice-error">{error}</p>}
      {oidc && (
        <section aria-labelledby="oidc-heading">
          <h2 id="oidc-heading">Organisation account</h2>
          <button type="button" className="primary" onClick={withOidc} disabled={busy !== null}>
            Sign in with {new URL(oidc.issuer).host}
          </button>
        </section>
      )}
      {devUsers.loading && <p role="status" className="muted">Looking for the development sign-in…</p>}
      {devUsers.data && (
        <section aria-labelledby="dev-heading">
          <h2 id="dev-heading">Development sign-in</h2>
          <p className="muted">Demo users of the local devhost (development mode only).</p>
          {groupByTenant(devUsers.data).map(([tenant, users]) => (
            <fieldset key={tenant} className="tenant-group">
              <legend>Tenant {tenant}</legend>
              <ul className="user-list">
                {users.map((user) => (
                  <li key={`${user.tenant}/${user.user}`}>
                    <button type="button" onClick={() => asDevUser(user)} disabled={busy !== null}
                      data-testid={`dev-user-${user.tenant}-${user.user}`}>
                      {user.label ?? `${user.user} (${user.roles.join(', ')})`}
                    </button>
                  </li>
                ))}
              </ul>
            </fieldset>
          ))}
        </section>
      )}
      {!oidc && !devUsers.loading && (
        <section aria-labelledby="token-heading">
          <h2 id="token-heading">Sign in with a token</h2>
          <p className="muted">
            For a local devhost: <code>python -m devhost token --user alice --tenant demo --role trader</code>
          </p>
          <form onSubmit={withToken}>
            <div className="field">
              <label htmlFor={tokenId}>Bearer token</label>
              <textarea id={tokenId} rows={3} value={pasted} onChange={(e) => setPasted(e.target.value)} required />
            </div>
            <button type="submit" disabled={!pasted.trim()}>Sign in with this token</button>
          </form>
        </section>
      )}
    </main>
  );
}
