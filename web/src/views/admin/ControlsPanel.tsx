import { useState } from 'react';
import { useWorkspace } from '../../app/WorkspaceProvider';
import { hasRole } from '../../auth/session';
import { useApi, useSignedIn } from '../../auth/SessionProvider';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useFeedEvents } from '../../events/bus';
import { useGate } from '../../gates/GateProvider';
import { formatTime } from '../../lib/format';
import { useAsync } from '../../lib/useAsync';
import { controlTargets, findControl } from './controlTargets';
import type { TargetRow } from './controlTargets';

/** Kill switch, maintenance and halts at every scope: each change needs a reason and a confirmation. */
export function ControlsPanel({ only }: { only?: readonly string[] }) {
  const api = useApi();
  const session = useSignedIn();
  const { profiles } = useWorkspace();
  const gate = useGate();
  const controls = useAsync(() => api.controls().then((r) => r.items), [api]);
  useFeedEvents(['control.'], controls.reload);
  const [pending, setPending] = useState<{ row: TargetRow; active: boolean } | null>(null);
  const rows = controlTargets(session.tenantId, gate.disabled ? [] : profiles).filter((r) => !only || only.includes(r.key));

  return (
    <section aria-labelledby="controls-heading">
      <h2 id="controls-heading">Controls</h2>
      <ErrorNotice error={controls.error} action="Loading controls" />
      <div className="table-wrap">
        <table data-testid="controls-table">
          <caption>Kill switch, maintenance and trading halts</caption>
          <thead><tr><th scope="col">Control</th><th scope="col">State</th><th scope="col">Reason, actor, since</th><th scope="col">Action</th></tr></thead>
          <tbody>
            {rows.map((row) => {
              const control = findControl(controls.data ?? [], row);
              const active = Boolean(control?.active);
              const allowed = hasRole(session, row.minRole);
              return (
                <tr key={row.key} data-control={row.key}>
                  <th scope="row">{row.title}</th>
                  <td><span className={`badge ${active ? 'badge-on' : ''}`}>{active ? 'ON' : 'off'}</span></td>
                  <td>{active && control ? `${control.reason || '—'} (${control.actor}${control.automatic ? ', automatic' : ''}, since ${formatTime(control.since)})` : '—'}</td>
                  <td>
                    <button type="button" className={active ? undefined : 'danger'} disabled={!allowed || controls.loading && !controls.data}
                      title={allowed ? undefined : `Needs the ${row.minRole} role`} onClick={() => setPending({ row, active: !active })}
                      aria-label={`${active ? 'Clear' : 'Set'} ${row.title}`}>
                      {active ? 'Clear' : 'Set'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {pending && (
        <ConfirmDialog title={`${pending.active ? 'Set' : 'Clear'}: ${pending.row.title}?`}
          confirmLabel={pending.active ? 'Set' : 'Clear'} danger={pending.active} requireReason onClose={() => setPending(null)}
          onConfirm={async (reason) => {
            // Re-read for the current ETag so that a change by someone else is not overwritten blindly.
            const fresh = await api.controls();
            const control = findControl(fresh.items, pending.row);
            await api.setControl(pending.row.target, { active: pending.active, reason }, control?.etag ?? null);
            controls.reload();
            await gate.refresh().catch(() => undefined);
          }}>
          <p>{pending.active ? pending.row.effect : 'Trading under this control resumes as the other controls allow.'}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
