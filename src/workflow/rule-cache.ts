import { Reloading } from '../shared/reloading.js';
import type { ActiveRule, ActiveRules, RuleRepository } from './ports.js';

/** The active event rules as read at one generation, looked up by event type and source. */
export class RuleSnapshot {
  private readonly byType = new Map<string, ActiveRule[]>();

  constructor(
    /** The generation of the rules this snapshot was read at (workflow_rules_generation). */
    readonly generation: number,
    rules: readonly ActiveRule[],
  ) {
    for (const active of rules) {
      const type = active.rule.eventType!;
      this.byType.set(type, [...(this.byType.get(type) ?? []), active]);
    }
  }

  /** Whether any event rule is active at all. */
  get empty(): boolean {
    return this.byType.size === 0;
  }

  /** The rules an event of this (normalised) type from this source starts, in creation order. */
  forEvent(type: string, sourceId: string): readonly ActiveRule[] {
    const rules = this.byType.get(type);
    if (!rules) return [];
    return rules.filter(({ rule }) => rule.sourceId === undefined || rule.sourceId === sourceId);
  }
}

/**
 * /track asks, for every committed event, which rules it starts. Enabled event rules of enabled flows
 * are loaded in one query with the generation they are of and kept for `ttlMs`; a save through this
 * process's admin API forgets them at once, and a commit that finds the stored generation moved on
 * (a save through another process) forgets them too.
 */
export class RuleCache {
  private readonly snapshot: Reloading<RuleSnapshot>;

  constructor(repository: Pick<RuleRepository, 'listActiveEventRules'>, ttlMs = 2000, clock: () => number = Date.now) {
    this.snapshot = new Reloading(
      () =>
        repository
          .listActiveEventRules()
          .then(({ generation, rules }: ActiveRules) => new RuleSnapshot(generation, rules)),
      ttlMs,
      clock,
    );
  }

  /** The rules as cached, with the generation they were read at. */
  current(): Promise<RuleSnapshot> {
    return this.snapshot.get();
  }

  /** The rules an event of this (normalised) type from this source starts, in creation order. */
  async forEvent(type: string, sourceId: string): Promise<readonly ActiveRule[]> {
    return (await this.snapshot.get()).forEvent(type, sourceId);
  }

  forget(): void {
    this.snapshot.forget();
  }
}
