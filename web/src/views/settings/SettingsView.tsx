import { useWorkspace } from '../../app/WorkspaceProvider';
import { hasRole } from '../../auth/session';
import { useSignedIn } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useGate } from '../../gates/GateProvider';
import { formatTime } from '../../lib/format';
import { ProfileEditor } from './ProfileEditor';

export function SettingsView() {
  const session = useSignedIn();
  const { profiles, error, reload } = useWorkspace();
  const { readOnly } = useGate();
  const disabledReason = !hasRole(session, 'trader') ? 'Editing profiles needs the trader role.' : readOnly ? 'Maintenance: the dashboard is read-only.' : null;
  return (
    <section aria-labelledby="settings-heading">
      <h1 id="settings-heading">Settings</h1>
      <h2>Your session</h2>
      <dl className="facts">
        <div><dt>User</dt><dd data-testid="me-user">{session.displayName} ({session.userId})</dd></div>
        <div><dt>Tenant</dt><dd data-testid="me-tenant">{session.tenantId}</dd></div>
        <div><dt>Roles</dt><dd>{session.roles.join(', ')}</dd></div>
        <div><dt>Session ends</dt><dd>{formatTime(new Date(session.expiresAt).toISOString())}</dd></div>
      </dl>
      <h2>Strategy profiles</h2>
      <ErrorNotice error={error} action="Loading profiles" />
      {profiles.length === 0 && <p className="muted">No profiles in this tenant.</p>}
      {profiles.map((p) => <ProfileEditor key={`${p.id}/${p.updatedAt}`} profile={p} disabledReason={disabledReason} onSaved={reload} />)}
    </section>
  );
}
