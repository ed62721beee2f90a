import { describe, expect, it } from 'vitest';
import type { ActiveRule } from './ports.js';
import { RuleCache } from './rule-cache.js';

const active = (id: string, eventType: string, sourceId?: string, answersClient = false): ActiveRule => ({
  rule: { id, name: id, kind: 'event', eventType, ...(sourceId && { sourceId }), flowId: 'f', enabled: true },
  answersClient,
  flow: { id: 'f', name: 'f', description: '', type: 'collection', enabled: true, graph: { nodes: [], edges: [] } },
});

describe('RuleCache', () => {
  it('matches the event type and the source or any source, in stored order', async () => {
    const cache = new RuleCache({
      listActiveEventRules: async () => ({
        generation: 1,
        rules: [
          active('any', 'purchase'),
          active('web', 'purchase', 'web', true),
          active('app', 'purchase', 'app'),
          active('view', 'page-view'),
        ],
      }),
    });
    expect((await cache.forEvent('purchase', 'web')).map(({ rule }) => rule.id)).toEqual(['any', 'web']);
    expect((await cache.forEvent('purchase', 'app')).map(({ rule }) => rule.id)).toEqual(['any', 'app']);
    expect((await cache.forEvent('purchase', 'web'))[1]!.answersClient).toBe(true);
    expect(await cache.forEvent('signup', 'web')).toEqual([]);
  });

  it('loads once per TTL and again after forget', async () => {
    let now = 0;
    let loads = 0;
    let stored = [active('a', 'purchase')];
    const cache = new RuleCache(
      { listActiveEventRules: async () => (loads++, { generation: loads, rules: stored }) },
      1000,
      () => now,
    );
    await Promise.all([cache.forEvent('purchase', 's'), cache.forEvent('page-view', 's')]);
    expect(loads).toBe(1);
    stored = [active('b', 'purchase')];
    now = 999;
    expect((await cache.forEvent('purchase', 's')).map(({ rule }) => rule.id)).toEqual(['a']);
    cache.forget();
    expect((await cache.forEvent('purchase', 's')).map(({ rule }) => rule.id)).toEqual(['b']);
    expect(loads).toBe(2);
  });
});
