import { formatTime } from '../lib/format';
import { haltLabel } from './gateState';
import { useGate } from './GateProvider';

/** Maintenance and every active trading halt, with reason, actor and since-time. */
export function Banners() {
  const { maintenance, halts } = useGate();
  return (
    <div className="banners" aria-live="polite">
      {maintenance && (
        <div role="status" className="banner banner-maintenance" data-testid="maintenance-banner">
          <strong>Maintenance: the dashboard is read-only.</strong>{' '}
          {maintenance.reason && <span>Reason: {maintenance.reason}. </span>}
          {maintenance.actor && <span>By {maintenance.actor}</span>}
          {maintenance.since && <span> since {formatTime(maintenance.since)}</span>}
        </div>
      )}
      {halts.map((halt) => (
        <div key={`${halt.scope}/${halt.id}`} role="alert" className="banner banner-halt" data-testid="halt-banner"
          data-scope={halt.scope}>
          <strong>{haltLabel(halt.scope)}.</strong>{' '}
          <span>Reason: {halt.reason || 'none given'}.</span>{' '}
          <span>By {halt.automatic ? `${halt.actor || 'the risk engine'} (automatic)` : halt.actor || 'unknown'}</span>
          {halt.since && <span> since {formatTime(halt.since)}</span>}
          {halt.until && <span>, until {formatTime(halt.until)}</span>}
          <span>. New orders are refused; cancels are still allowed.</span>
        </div>
      ))}
    </div>
  );
}
