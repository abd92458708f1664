import { ApiError } from '../api/problem';
import type { EventsPage, FeedEvent } from '../api/types';

/**
 * Follows `GET /api/v1/events` by long-poll. Before following from a fresh cursor it
 * calls `resync` (re-read the state the events change), so nothing that happened
 * between the read and the cursor is lost: events after the cursor are applied on top.
 */
export interface FeedDeps {
  fetchEvents: (after: string | null, wait: number, signal: AbortSignal) => Promise<EventsPage>;
  resync: () => Promise<void>;
  onEvent: (event: FeedEvent) => void;
  onProductDisabled: () => void;
  onStatus?: (status: FeedStatus) => void;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  waitSeconds?: number;
}

export type FeedStatus = 'connecting' | 'live' | 'retrying' | 'disabled' | 'stopped';

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * How long one long-poll may wait on the server. Events still arrive at once; a short
 * wait only bounds how long a poll abandoned by a closed or reloaded page keeps a
 * server worker busy.
 */
export const DEFAULT_WAIT_SECONDS = 10;

export function backoffMs(failures: number): number {
  return Math.min(500 * 2 ** Math.max(failures - 1, 0), 8000);
}

export class EventFeed {
  private readonly deps: FeedDeps;
  private readonly controller = new AbortController();
  private cursor: string | null = null;
  private needsResync = true;

  constructor(deps: FeedDeps) {
    this.deps = deps;
  }

  stop(): void {
    this.controller.abort();
    this.deps.onStatus?.('stopped');
  }

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  /** Runs until stop(); never throws. */
  async run(): Promise<void> {
    const { signal } = this.controller;
    const sleep = this.deps.sleep ?? defaultSleep;
    let failures = 0;
    this.deps.onStatus?.('connecting');
    while (!signal.aborted) {
      try {
        if (this.cursor === null || this.needsResync) {
          const head = await this.deps.fetchEvents(null, 0, signal);
          this.cursor = head.cursor;
          await this.deps.resync();
          this.needsResync = false;
          this.deps.onStatus?.('live');
        }
        const page = await this.deps.fetchEvents(this.cursor, this.deps.waitSeconds ?? DEFAULT_WAIT_SECONDS, signal);
        if (signal.aborted) return;
        this.cursor = page.cursor;
        failures = 0;
        this.deps.onStatus?.('live');
        for (const event of page.items) this.deps.onEvent(event);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.productDisabled) {
          // Only status, health and admin answer now: re-read everything once it is back.
          this.deps.onProductDisabled();
          this.deps.onStatus?.('disabled');
          this.needsResync = true;
          await sleep(1000, signal);
          continue;
        }
        if (error instanceof ApiError && error.status === 401) {
          this.stop();
          return;
        }
        if (error instanceof ApiError && error.status === 400) this.cursor = null; // a cursor the feed no longer takes
        failures += 1;
        this.needsResync = this.needsResync || failures > 1;
        this.deps.onStatus?.('retrying');
        await sleep(backoffMs(failures), signal);
      }
    }
  }
}
