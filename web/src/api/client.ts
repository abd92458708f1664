import { ApiError, problemFrom } from './problem';

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send without the bearer token (public endpoints). */
  anonymous?: boolean;
}

export interface ApiResult<T> {
  data: T;
  etag: string | null;
  requestId: string | null;
  status: number;
}

export interface ApiClientConfig {
  baseUrl?: string;
  getToken: () => string | null;
  /** Called when the API answers 401 to an authenticated call (expired or revoked token). */
  onUnauthorized?: (error: ApiError) => void;
  /** Called when the API answers "product disabled" (kill switch). */
  onProductDisabled?: (error: ApiError) => void;
  fetchImpl?: typeof fetch;
}

/** A request id we send so that even a failed network call can be traced. */
export function newRequestId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function buildUrl(baseUrl: string, path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === null || value === undefined || value === '') continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return `${baseUrl}${path}${qs ? `?${qs}` : ''}`;
}

export class ApiClient {
  private readonly config: ApiClientConfig;

  constructor(config: ApiClientConfig) {
    this.config = config;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResult<T>> {
    const requestId = newRequestId();
    const headers: Record<string, string> = { accept: 'application/json', 'x-request-id': requestId, ...options.headers };
    const token = options.anonymous ? null : this.config.getToken();
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const fetchImpl = this.config.fetchImpl ?? fetch;
    let response: Response;
    try {
      response = await fetchImpl(buildUrl(this.config.baseUrl ?? '', path, options.query), {
        method, headers, body, signal: options.signal,
      });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
      throw new ApiError({ status: 0, title: 'Network error', detail: 'The API could not be reached.', requestId });
    }
    const echoed = response.headers.get('x-request-id') ?? requestId;
    const text = await response.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) {
      const error = problemFrom(response.status, parsed, echoed);
      if (response.status === 401 && token) this.config.onUnauthorized?.(error);
      if (error.productDisabled) this.config.onProductDisabled?.(error);
      throw error;
    }
    return { data: parsed as T, etag: response.headers.get('etag'), requestId: echoed, status: response.status };
  }

  async get<T>(path: string, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('GET', path, options)).data;
  }

  async post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('POST', path, { ...options, body: body ?? {} })).data;
  }
}
