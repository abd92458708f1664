import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem';
import { ConfirmDialog } from './ConfirmDialog';

describe('ConfirmDialog', () => {
  it('needs a reason before it confirms, then passes it on', async () => {
    const onConfirm = vi.fn(async () => undefined);
    const onClose = vi.fn();
    render(<ConfirmDialog title="Set global halt?" confirmLabel="Set" requireReason onConfirm={onConfirm} onClose={onClose} />);
    const confirm = screen.getByRole('button', { name: 'Set' });
    expect(confirm).toBeDisabled();
    await userEvent.type(screen.getByLabelText(/Reason/), 'ok');
    expect(confirm).toBeDisabled();
    await userEvent.type(screen.getByLabelText(/Reason/), ' then');
    await userEvent.click(confirm);
    expect(onConfirm).toHaveBeenCalledWith('ok then');
    expect(onClose).toHaveBeenCalled();
  });

  it('keeps the dialog open and shows the error with its request id', async () => {
    const onClose = vi.fn();
    const failing = vi.fn(async () => { throw new ApiError({ status: 412, title: 'Precondition failed', detail: 'The control changed', requestId: 'req-412' }); });
    render(<ConfirmDialog title="Clear?" confirmLabel="Clear" onConfirm={failing} onClose={onClose} />);
    await userEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(await screen.findByTestId('request-id')).toHaveTextContent('req-412');
    expect(screen.getByRole('alert')).toHaveTextContent('The control changed');
    expect(onClose).not.toHaveBeenCalled();
  });
});
