import { Reloading } from '../shared/reloading.js';
import type { Mapping } from './mapping.js';
import type { MappingRepository } from './ports.js';

/**
 * Collection time looks up the mappings of every tracked event type; the enabled mappings are loaded
 * in one query and kept for `ttlMs`, so the hot path does not pay a query per batch.
 */
export class MappingCache {
  private readonly byType: Reloading<Map<string, Mapping[]>>;

  constructor(repository: Pick<MappingRepository, 'listEnabled'>, ttlMs = 2000, clock: () => number = Date.now) {
    this.byType = new Reloading(() => repository.listEnabled().then(groupByEventType), ttlMs, clock);
  }

  /** Enabled mappings of both kinds for an event type, in creation order. */
  async forEventType(eventType: string): Promise<readonly Mapping[]> {
    return (await this.byType.get()).get(eventType) ?? [];
  }

  forget(): void {
    this.byType.forget();
  }
}

function groupByEventType(mappings: Mapping[]): Map<string, Mapping[]> {
  const byType = new Map<string, Mapping[]>();
  for (const mapping of mappings) byType.set(mapping.eventType, [...(byType.get(mapping.eventType) ?? []), mapping]);
  return byType;
}
