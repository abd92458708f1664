import { AuditLog } from './AuditLog';
import { ControlsPanel } from './ControlsPanel';
import { ReconciliationPanel } from './ReconciliationPanel';

export function AdminView() {
  return (
    <section aria-labelledby="admin-heading">
      <h1 id="admin-heading">Administration</h1>
      <ControlsPanel />
      <ReconciliationPanel />
      <AuditLog />
    </section>
  );
}
