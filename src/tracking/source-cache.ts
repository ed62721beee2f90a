import type { EventSource, EventSourceRepository } from './ports.js';

/**
 * /track checks its event source on every request; the answer is cached briefly so the hot path
 * does not pay a query for it. A change made through this process is seen at once, a change made
 * through another API process within `ttlMs`.
 */
export class SourceCache {
  private readonly entries = new Map<string, { source: EventSource | undefined; expires: number }>();
  /** Counts the changes made through this process, for caches of several sources (write keys) to follow. */
  generation = 0;

  constructor(
    private readonly repository: EventSourceRepository,
    private readonly ttlMs = 2000,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(id: string): Promise<EventSource | undefined> {
    const cached = this.entries.get(id);
    if (cached && cached.expires > this.clock()) return cached.source;
    const source = await this.repository.get(id);
    this.entries.set(id, { source, expires: this.clock() + this.ttlMs });
    return source;
  }

  forget(id: string): void {
    this.entries.delete(id);
    this.generation++;
  }
}
