import { useEffect } from 'react';
import { OidcCallback } from '../auth/OidcCallback';
import { hasRole } from '../auth/session';
import { signInPath, useSession } from '../auth/SessionProvider';
import { SignInPage } from '../auth/SignInPage';
import { GateProvider, useGate } from '../gates/GateProvider';
import { ProductDisabledPage } from '../gates/ProductDisabledPage';
import { Link, navigate, RouterProvider, useLocation } from '../router/router';
import { Loading } from '../components/Loading';
import { SessionProvider } from '../auth/SessionProvider';
import { ControlsPanel } from '../views/admin/ControlsPanel';
import { AlertsProvider } from './AlertsProvider';
import { FlagsProvider } from './FlagsProvider';
import { Shell } from './Shell';
import { WorkspaceProvider } from './WorkspaceProvider';

function Gated() {
  const { session, signOut } = useSession();
  const gate = useGate();
  const { pathname, search } = useLocation();
  const onSignIn = pathname === '/sign-in' || pathname.startsWith('/auth/');

  useEffect(() => {
    if (!session && !onSignIn) navigate(signInPath(null, `${pathname}${search}`), { replace: true });
  }, [session, onSignIn, pathname, search]);

  if (pathname.startsWith('/auth/callback')) return <OidcCallback />;
  if (!gate.loaded) return <main id="main"><Loading label="Checking the product status…" /></main>;
  if (gate.disabled && !onSignIn) {
    return (
      <ProductDisabledPage>
        {session && hasRole(session, 'admin') ? (
          <WorkspaceProvider><ControlsPanel only={['kill-switch']} /></WorkspaceProvider>
        ) : null}
        {session
          ? <button type="button" onClick={() => signOut('signed-out')}>Sign out</button>
          : <p><Link to="/sign-in">Administrators: sign in</Link></p>}
      </ProductDisabledPage>
    );
  }
  if (onSignIn || !session) return <SignInPage />;
  return (
    <WorkspaceProvider>
      <FlagsProvider>
        <AlertsProvider>
          <Shell />
        </AlertsProvider>
      </FlagsProvider>
    </WorkspaceProvider>
  );
}

export function App() {
  return (
    <RouterProvider>
      <SessionProvider>
        <GateProvider>
          <Gated />
        </GateProvider>
      </SessionProvider>
    </RouterProvider>
  );
}
