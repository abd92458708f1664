/** Errors as the API reports them (RFC 9457 problem+json with the request id). */

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly requestId: string | null;
  readonly errors: FieldError[];

  constructor(init: {
    status: number;
    title: string;
    detail?: string;
    type?: string;
    requestId?: string | null;
    errors?: FieldError[];
  }) {
    super(init.detail ? `${init.title}: ${init.detail}` : init.title);
    this.name = 'ApiError';
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail ?? '';
    this.type = init.type ?? 'about:blank';
    this.requestId = init.requestId ?? null;
    this.errors = init.errors ?? [];
  }

  get productDisabled(): boolean {
    return this.type === 'urn:halyard:product-disabled';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Builds an ApiError from a failed response body (problem+json or anything else). */
export function problemFrom(status: number, body: unknown, headerRequestId: string | null): ApiError {
  if (isRecord(body) && typeof body.title === 'string') {
    const errors = Array.isArray(body.errors)
      ? body.errors.filter(isRecord).map((e) => ({ field: String(e.field ?? ''), message: String(e.message ?? '') }))
      : [];
    return new ApiError({
      status,
      title: body.title,
      detail: typeof body.detail === 'string' ? body.detail : '',
      type: typeof body.type === 'string' ? body.type : undefined,
      requestId: typeof body.requestId === 'string' ? body.requestId : headerRequestId,
      errors,
    });
  }
  return new ApiError({ status, title: `HTTP ${status}`, detail: typeof body === 'string' ? body.slice(0, 300) : '', requestId: headerRequestId });
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return [error.title, error.detail, fields].filter(Boolean).join(' — ');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
