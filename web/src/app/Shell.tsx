import { useEffect, useRef } from 'react';
import { hasRole } from '../auth/session';
import { useSession, useSignedIn } from '../auth/SessionProvider';
import { Banners } from '../gates/Banners';
import { useGate } from '../gates/GateProvider';
import { Link, useLocation } from '../router/router';
import { useFlags } from './FlagsProvider';
import { routeView } from './Routes';
import { tabFor, visibleTabs } from './tabs';

const FEED_LABEL: Record<string, string> = {
  live: 'Live', connecting: 'Connecting…', retrying: 'Reconnecting…', disabled: 'Product disabled', stopped: 'Offline',
};

/** The signed-in dashboard: header, tabs (feature flags and role), banners and the current view. */
export function Shell() {
  const session = useSignedIn();
  const { signOut } = useSession();
  const { feed } = useGate();
  const flags = useFlags();
  const { pathname } = useLocation();
  const tabs = visibleTabs(flags, (role) => hasRole(session, role));
  const tab = tabFor(pathname);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // Move focus to the new view after navigating (not on the first render).
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    main.current?.focus();
  }, [pathname]);

  let content = routeView(pathname);
  if (tab && !tabs.includes(tab)) {
    content = tab.flag && flags[tab.flag] === false
      ? <p role="alert">This view is turned off (feature flag <code>{tab.flag}</code>).</p>
      : <p role="alert">This view needs the {tab.minRole} role; you are {session.role}.</p>;
  } else if (content === null) {
    content = <><h1>Not found</h1><p>There is no page at <code>{pathname}</code>. <Link to="/">Go to the overview</Link>.</p></>;
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="topbar">
        <span className="brand">Halyard</span>
        <span className="who" data-testid="who">
          {session.displayName} · tenant <strong>{session.tenantId}</strong> · {session.role}
        </span>
        <span className={`feed feed-${feed}`} role="status" aria-label={`Live updates: ${FEED_LABEL[feed] ?? feed}`}>
          ● {FEED_LABEL[feed] ?? feed}
        </span>
        <button type="button" onClick={() => signOut('signed-out')}>Sign out</button>
      </header>
      <nav aria-label="Main" className="tabs">
        <ul>
          {tabs.map((t) => (
            <li key={t.path}>
              <Link to={t.path} aria-current={tab === t ? 'page' : undefined}>{t.label}</Link>
            </li>
          ))}
        </ul>
      </nav>
      <Banners />
      <main id="main" ref={main} tabIndex={-1} className="content">{content}</main>
    </div>
  );
}
