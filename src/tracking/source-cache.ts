import type { EventSource, EventSourceRepository } from './ports.js';

/**
 * /track checks its event source on every request; the answer is cached briefly so the hot path
 * does not pay a query for it. A change made through this process is seen at once, a change made
 * through another API process within `ttlMs`. Requests that miss together share one read: a burst
 * (an import batch, a busy second) must not queue a query per request on the pool.
 */
export class SourceCache {
  private readonly entries = new Map<string, { source: Promise<EventSource | undefined>; expires: number }>();
  /** Counts the changes made through this process, for caches of several sources (write keys) to follow. */
  generation = 0;

  constructor(
    private readonly repository: EventSourceRepository,
    private readonly ttlMs = 2000,
    private readonly clock: () => number = Date.now,
  ) {}

  get(id: string): Promise<EventSource | undefined> {
    const cached = this.entries.get(id);
    if (cached && cached.expires > this.clock()) return cached.source;
    const entry = { source: this.repository.get(id), expires: this.clock() + this.ttlMs };
    this.entries.set(id, entry);
    // A failed read is not cached: the next request tries again.
    entry.source.catch(() => {
      if (this.entries.get(id) === entry) this.entries.delete(id);
    });
    return entry.source;
  }

  forget(id: string): void {
    this.entries.delete(id);
    this.generation++;
  }
}
