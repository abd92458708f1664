import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem';
import type { EventsPage, FeedEvent } from '../api/types';
import { backoffMs, EventFeed } from './feed';

const event = (seq: number): FeedEvent => ({ id: `global:${seq}`, stream: 'global', seq, type: 'control.changed', data: {}, at: '', requestId: null });

function scripted(steps: ((after: string | null) => EventsPage | Error)[]) {
  const calls: (string | null)[] = [];
  let feed: EventFeed | null = null;
  const fetchEvents = vi.fn(async (after: string | null) => {
    calls.push(after);
    const step = steps.shift();
    if (!step) { feed?.stop(); return { items: [], cursor: after ?? 'end' }; }
    const result = step(after);
    if (result instanceof Error) throw result;
    return result;
  });
  return { calls, fetchEvents, attach: (f: EventFeed) => { feed = f; } };
}

describe('EventFeed', () => {
  it('re-reads state after taking the head cursor, then follows from that cursor', async () => {
    const order: string[] = [];
    const s = scripted([
      () => { order.push('head'); return { items: [], cursor: 'c0' }; },
      () => ({ items: [event(1), event(2)], cursor: 'c2' }),
      () => ({ items: [], cursor: 'c2' }),
    ]);
    const seen: number[] = [];
    const feed = new EventFeed({
      fetchEvents: s.fetchEvents, resync: async () => { order.push('resync'); }, onEvent: (e) => seen.push(e.seq),
      onProductDisabled: vi.fn(), sleep: async () => undefined,
    });
    s.attach(feed);
    await feed.run();
    expect(order).toEqual(['head', 'resync']);
    expect(s.calls).toEqual([null, 'c0', 'c2', 'c2']);
    expect(seen).toEqual([1, 2]);
  });

  it('starts over from a new head (and re-reads) when the cursor is refused', async () => {
    const resync = vi.fn(async () => undefined);
    const s = scripted([
      () => ({ items: [], cursor: 'c0' }),
      () => new ApiError({ status: 400, title: 'Bad request' }),
      () => ({ items: [], cursor: 'c9' }),
    ]);
    const feed = new EventFeed({ fetchEvents: s.fetchEvents, resync, onEvent: vi.fn(), onProductDisabled: vi.fn(), sleep: async () => undefined });
    s.attach(feed);
    await feed.run();
    expect(s.calls.slice(0, 3)).toEqual([null, 'c0', null]);
    expect(resync).toHaveBeenCalledTimes(2);
  });

  it('reports the product disabled and re-reads everything once it is back', async () => {
    const onProductDisabled = vi.fn();
    const resync = vi.fn(async () => undefined);
    const disabled = new ApiError({ status: 503, title: 'Product disabled', type: 'urn:halyard:product-disabled' });
    const s = scripted([
      () => ({ items: [], cursor: 'c0' }),
      () => disabled,
      () => disabled,
      () => ({ items: [], cursor: 'c5' }),
    ]);
    const feed = new EventFeed({ fetchEvents: s.fetchEvents, resync, onEvent: vi.fn(), onProductDisabled, sleep: async () => undefined });
    s.attach(feed);
    await feed.run();
    expect(onProductDisabled).toHaveBeenCalledTimes(2);
    expect(resync).toHaveBeenCalledTimes(2);
  });

  it('stops on 401 (the session handles it) and backs off on other errors', async () => {
    const s = scripted([() => new ApiError({ status: 401, title: 'Unauthorized' })]);
    const feed = new EventFeed({ fetchEvents: s.fetchEvents, resync: vi.fn(), onEvent: vi.fn(), onProductDisabled: vi.fn() });
    await feed.run();
    expect(feed.stopped).toBe(true);
    expect([1, 2, 3, 10].map(backoffMs)).toEqual([500, 1000, 2000, 8000]);
  });
});
