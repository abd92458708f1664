import { useEffect, useRef, useState } from 'react';
import { errorMessage } from '../api/problem';
import { Link, navigate } from '../router/router';
import { oidcConfig } from './config';
import { completeSignIn } from './oidc';
import { safeReturnTo } from './session';
import { useSession } from './SessionProvider';

/** `/auth/callback`: redeems the authorization code, then returns to the page the user was on. */
export function OidcCallback() {
  const { signIn } = useSession();
  const [error, setError] = useState<string | null>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const config = oidcConfig();
    if (!config) {
      setError('This build has no OIDC issuer configured.');
      return;
    }
    completeSignIn(config, window.location.search).then(
      ({ token, expiresAt, returnTo }) => {
        signIn(token, 'oidc', expiresAt);
        navigate(safeReturnTo(returnTo), { replace: true });
      },
      (caught: unknown) => setError(errorMessage(caught)),
    );
  }, [signIn]);

  return (
    <main id="main" className="sign-in" tabIndex={-1}>
      <h1>Signing in…</h1>
      {error ? (
        <>
          <p role="alert" className="notice notice-error">{error}</p>
          <Link to="/sign-in">Back to sign-in</Link>
        </>
      ) : <p role="status">Completing the sign-in with your organisation.</p>}
    </main>
  );
}
