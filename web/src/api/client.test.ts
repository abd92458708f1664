import { describe, expect, it, vi } from 'vitest';
import { ApiClient, buildUrl } from './client';
import { ApiError, errorMessage } from './problem';

function respond(status: number, body: unknown, headers: Record<string, string> = {}) {
  return vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } }));
}

describe('ApiClient', () => {
  it('sends the bearer token and a request id, and drops empty query values', async () => {
    const fetchImpl = respond(200, { ok: true }, { etag: '"e1"' });
    const client = new ApiClient({ getToken: () => 'tok', fetchImpl });
    const result = await client.request('GET', '/api/v1/orders', { query: { accountId: 'a', status: undefined, continuation: null } });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/orders?accountId=a');
    const headers = init.headers as Record<string, string>;
    expect(headers.authorization).toBe('Bearer tok');
    expect(headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(result.etag).toBe('"e1"');
  });

  it('turns problem+json into an ApiError that carries the request id', async () => {
    const fetchImpl = respond(422, {
      type: 'about:blank', title: 'Validation failed', status: 422, detail: 'Invalid query: accountId', requestId: 'req-123',
      errors: [{ field: 'accountId', message: 'name one of demo-paper-1, demo-paper-2' }],
    });
    const client = new ApiClient({ getToken: () => 'tok', fetchImpl });
    const error = await client.get('/api/v1/orders').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).requestId).toBe('req-123');
    expect(errorMessage(error)).toContain('accountId: name one of demo-paper-1');
  });

  it('reports 401 on an authenticated call as an expired session, and product-disabled answers', async () => {
    const onUnauthorized = vi.fn();
    const onProductDisabled = vi.fn();
    const expired = new ApiClient({ getToken: () => 'tok', onUnauthorized, fetchImpl: respond(401, { title: 'Unauthorized', status: 401, requestId: 'r' }) });
    await expect(expired.get('/api/me')).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledOnce();
    const killed = new ApiClient({ getToken: () => 'tok', onProductDisabled,
      fetchImpl: respond(503, { type: 'urn:halyard:product-disabled', title: 'Product disabled', status: 503, requestId: 'r2' }) });
    const error = (await killed.get('/api/v1/positions').catch((e: unknown) => e)) as ApiError;
    expect(error.productDisabled).toBe(true);
    expect(onProductDisabled).toHaveBeenCalledOnce();
  });

  it('gives a network failure our own request id', async () => {
    const client = new ApiClient({ getToken: () => null, fetchImpl: vi.fn(async () => { throw new TypeError('failed'); }) });
    const error = (await client.get('/api/health').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('builds URLs', () => {
    expect(buildUrl('', '/api/v1/tickers', { symbols: 'A,B' })).toBe('/api/v1/tickers?symbols=A%2CB');
  });
});
