import { ApiError, errorMessage } from '../api/problem';

/** An error as the user sees it: what failed and, for API errors, the request id to quote. */
export function ErrorNotice({ error, action }: { error: unknown; action?: string }) {
  if (!error) return null;
  const requestId = error instanceof ApiError ? error.requestId : null;
  return (
    <div role="alert" className="notice notice-error">
      <strong>{action ? `${action} failed: ` : ''}</strong>
      <span>{errorMessage(error)}</span>
      {requestId && (
        <span className="request-id">
          {' '}Request id: <code data-testid="request-id">{requestId}</code>
        </span>
      )}
    </div>
  );
}
