import type { Mapping } from './mapping.js';
import type { MappingRepository } from './ports.js';

/**
 * Collection time looks up the mappings of every tracked event type; the enabled mappings are loaded
 * in one query and kept for `ttlMs`, so the hot path does not pay a query per batch. A change made
 * through this process is seen at once (forget), one made through another process within `ttlMs`.
 */
export class MappingCache {
  private byType: Promise<Map<string, Mapping[]>> | undefined;
  private expires = 0;

  constructor(
    private readonly repository: Pick<MappingRepository, 'listEnabled'>,
    private readonly ttlMs = 2000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Enabled mappings of both kinds for an event type, in creation order. */
  async forEventType(eventType: string): Promise<readonly Mapping[]> {
    return (await this.load()).get(eventType) ?? [];
  }

  forget(): void {
    this.byType = undefined;
  }

  private load(): Promise<Map<string, Mapping[]>> {
    if (this.byType && this.expires > this.clock()) return this.byType;
    this.expires = this.clock() + this.ttlMs;
    // Concurrent callers share one query; a failed one is not kept.
    const loading = this.repository.listEnabled().then(groupByEventType);
    loading.catch(() => {
      if (this.byType === loading) this.byType = undefined;
    });
    this.byType = loading;
    return loading;
  }
}

function groupByEventType(mappings: Mapping[]): Map<string, Mapping[]> {
  const byType = new Map<string, Mapping[]>();
  for (const mapping of mappings) byType.set(mapping.eventType, [...(byType.get(mapping.eventType) ?? []), mapping]);
  return byType;
}
