import { useEffect, useId, useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { ErrorNotice } from './ErrorNotice';

export interface ConfirmDialogProps {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  /** Ask for a reason (kept in the audit trail); confirm stays disabled until it has minReasonLength characters. */
  requireReason?: boolean;
  minReasonLength?: number;
  danger?: boolean;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
}

/** A modal confirmation (native <dialog>: focus is trapped and Escape closes it). */
export function ConfirmDialog({ title, children, confirmLabel, requireReason = false, minReasonLength = 3,
  danger = false, onConfirm, onClose }: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const reasonId = useId();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
  }, []);

  const tooShort = requireReason && reason.trim().length < minReasonLength;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (tooShort || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm(reason.trim());
      onClose();
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} aria-labelledby={titleId} className="dialog" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <form onSubmit={submit}>
        <h2 id={titleId}>{title}</h2>
        {children}
        {requireReason && (
          <div className="field">
            <label htmlFor={reasonId}>Reason (required, kept in the audit trail)</label>
            <textarea id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required
              minLength={minReasonLength} maxLength={500} rows={3} autoFocus />
          </div>
        )}
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="button" onClick={onClose} autoFocus={!requireReason}>Cancel</button>
          <button type="submit" className={danger ? 'danger' : 'primary'} disabled={tooShort || busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
