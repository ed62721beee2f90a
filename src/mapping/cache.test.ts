import { describe, expect, it } from 'vitest';
import { MappingCache } from './cache.js';
import type { Mapping } from './mapping.js';

const mapping = (id: string, eventType: string) =>
  ({
    id,
    name: id,
    kind: 'event-props-to-traits',
    eventType,
    enabled: true,
    mapping: {},
    condition: null,
    createdAt: '',
    updatedAt: '',
  }) as Mapping;

describe('MappingCache', () => {
  it('loads all enabled mappings once per TTL, groups them by event type, and reloads after forget', async () => {
    let now = 0;
    let loads = 0;
    let stored = [mapping('a', 'purchase'), mapping('b', 'page-view'), mapping('c', 'purchase')];
    const cache = new MappingCache({ listEnabled: async () => (loads++, stored) }, 1000, () => now);
    const [purchase, view] = await Promise.all([cache.forEventType('purchase'), cache.forEventType('page-view')]);
    expect(purchase.map((m) => m.id)).toEqual(['a', 'c']);
    expect(view.map((m) => m.id)).toEqual(['b']);
    expect(await cache.forEventType('other')).toEqual([]);
    expect(loads).toBe(1);
    stored = [mapping('d', 'purchase')];
    now = 999;
    expect((await cache.forEventType('purchase')).map((m) => m.id)).toEqual(['a', 'c']);
    now = 1000;
    expect((await cache.forEventType('purchase')).map((m) => m.id)).toEqual(['d']);
    stored = [];
    cache.forget();
    expect(await cache.forEventType('purchase')).toEqual([]);
    expect(loads).toBe(3);
  });

  it('does not keep a failed load', async () => {
    let fail = true;
    const cache = new MappingCache({
      listEnabled: async () => (fail ? Promise.reject(new Error('down')) : [mapping('a', 'x')]),
    });
    await expect(cache.forEventType('x')).rejects.toThrow('down');
    fail = false;
    expect(await cache.forEventType('x')).toHaveLength(1);
  });
});
