import type { ReactNode } from 'react';
import { formatTime } from '../lib/format';
import { controlKey } from './gateState';
import { useGate } from './GateProvider';

/** What every surface shows while the product kill switch is on (or its state is unknown). */
export function ProductDisabledPage({ children }: { children?: ReactNode }) {
  const { state } = useGate();
  const kill = state.controls[controlKey('product', 'kill-switch')];
  return (
    <main className="disabled-page" id="main" tabIndex={-1}>
      <h1 data-testid="product-disabled">Product disabled</h1>
      {state.known ? (
        <p>
          Halyard has been disabled by an administrator
          {kill?.reason ? <>: <q>{kill.reason}</q></> : null}
          {kill?.actor ? <> ({kill.actor}{kill.since ? `, since ${formatTime(kill.since)}` : ''})</> : null}.
          No trading takes place. This page updates by itself when the product is back.
        </p>
      ) : (
        <p>The product&apos;s control state cannot be read, so it is treated as disabled. This page retries by itself.</p>
      )}
      {children}
    </main>
  );
}
