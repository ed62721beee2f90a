import { Reloading } from '../shared/reloading.js';
import type { ActiveRule, RuleRepository } from './ports.js';

/**
 * The commit step asks, for every committed event, which rules it starts. Enabled event rules of
 * enabled flows are loaded in one query and kept for `ttlMs`; a save through this process's admin
 * API forgets them at once.
 */
export class RuleCache {
  private readonly byType: Reloading<Map<string, ActiveRule[]>>;

  constructor(repository: Pick<RuleRepository, 'listActiveEventRules'>, ttlMs = 2000, clock: () => number = Date.now) {
    this.byType = new Reloading(() => repository.listActiveEventRules().then(groupByEventType), ttlMs, clock);
  }

  /** The rules an event of this (normalised) type from this source starts, in creation order. */
  async forEvent(type: string, sourceId: string): Promise<readonly ActiveRule[]> {
    const rules = (await this.byType.get()).get(type) ?? [];
    return rules.filter(({ rule }) => rule.sourceId === undefined || rule.sourceId === sourceId);
  }

  forget(): void {
    this.byType.forget();
  }
}

function groupByEventType(rules: ActiveRule[]): Map<string, ActiveRule[]> {
  const byType = new Map<string, ActiveRule[]>();
  for (const active of rules) {
    const type = active.rule.eventType!;
    byType.set(type, [...(byType.get(type) ?? []), active]);
  }
  return byType;
}
