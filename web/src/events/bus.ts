import { createContext, useContext, useEffect, useRef } from 'react';
import type { FeedEvent } from '../api/types';

export type Listener = (event: FeedEvent) => void;

/** Fan-out of feed events to the views that show what they change. */
export class EventBus {
  private readonly listeners = new Set<Listener>();

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  emit(event: FeedEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        console.error('event listener failed', error);
      }
    }
  }
}

export const EventBusContext = createContext<EventBus>(new EventBus());

/** Calls `handler` for feed events whose type starts with one of `prefixes`. */
export function useFeedEvents(prefixes: readonly string[], handler: (event: FeedEvent) => void): void {
  const bus = useContext(EventBusContext);
  const ref = useRef(handler);
  ref.current = handler;
  const key = prefixes.join('|');
  useEffect(() => bus.subscribe((event) => {
    if (key.split('|').some((p) => event.type.startsWith(p))) ref.current(event);
  }), [bus, key]);
}
