import { describe, expect, it } from 'vitest';
import { mergeProfiles, mergeValues, survivorOf, unmergeSurvivor, type ProfileRecord } from './merge.js';

const profile = (id: string, overrides: Partial<ProfileRecord> = {}): ProfileRecord => ({
  id,
  ids: [],
  traits: {},
  pii: {},
  data: {},
  stats: {},
  consents: {},
  metadata: {},
  segments: [],
  active: false,
  visits: 0,
  lastVisitAt: null,
  currentVisitAt: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

const older = profile('b-old', {
  ids: ['x-imported'],
  traits: { name: 'Ann', tier: 'gold', tags: ['a', 'b'], address: { city: 'Kraków', zip: '30-001' } },
  pii: { email: 'ann@x.io' },
  stats: { purchases: 2, pages: { home: 3 } },
  consents: { marketing: { granted: true } },
  segments: ['buyers'],
  active: false,
  visits: 3,
  lastVisitAt: '2026-02-01T00:00:00.000Z',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-02-01T00:00:00.000Z',
});
const newer = profile('a-new', {
  traits: { name: 'Anna', tier: null, tags: ['b', 'c'], address: { city: 'Warszawa' } },
  pii: { phone: '+48601234567' },
  stats: { purchases: 1, pages: { home: 1, cart: 2 } },
  consents: { email: { granted: false } },
  segments: ['visitors'],
  active: true,
  visits: 2,
  lastVisitAt: '2026-03-01T00:00:00.000Z',
  currentVisitAt: '2026-03-01T00:00:00.000Z',
  createdAt: '2026-03-01T00:00:00.000Z',
  updatedAt: '2026-03-01T00:00:00.000Z',
});

describe('merge semantics', () => {
  const merged = mergeProfiles([newer, older]);

  it('keeps the oldest id, and every id (merged ones too) in ids', () => {
    expect(merged.id).toBe('b-old');
    expect(merged.ids.sort()).toEqual(['a-new', 'x-imported']);
    expect(survivorOf([profile('b'), profile('a')]).id).toBe('a');
  });

  it('lets the newer scalar win, never a null over a value', () => {
    expect(merged.traits['name']).toBe('Anna');
    expect(merged.traits['tier']).toBe('gold');
  });

  it('unions lists and merges objects key by key', () => {
    expect(merged.traits['tags']).toEqual(['a', 'b', 'c']);
    expect(merged.traits['address']).toEqual({ city: 'Warszawa', zip: '30-001' });
    expect(merged.pii).toEqual({ email: 'ann@x.io', phone: '+48601234567' });
  });

  it('adds counters and visits up; first seen earliest, last seen latest', () => {
    expect(merged.stats).toEqual({ purchases: 3, pages: { home: 4, cart: 2 } });
    expect(merged.visits).toBe(5);
    expect(merged.createdAt).toBe('2026-01-01T00:00:00.000Z');
    expect(merged.lastVisitAt).toBe('2026-03-01T00:00:00.000Z');
    expect(merged.updatedAt).toBe('2026-03-01T00:00:00.000Z');
    expect(merged.active).toBe(true);
  });

  it('unions segments and consents', () => {
    expect(merged.segments).toEqual(['visitors', 'buyers']);
    expect(merged.consents).toEqual({ marketing: { granted: true }, email: { granted: false } });
  });

  it('refuses a merge of one profile', () => {
    expect(() => mergeProfiles([older])).toThrow();
  });

  it('merges values without adding numbers outside stats', () => {
    expect(mergeValues({ a: 1 }, { a: 2 })).toEqual({ a: 2 });
    expect(mergeValues({ a: 1 }, { a: 2 }, true)).toEqual({ a: 3 });
  });
});

describe('undoing a merge', () => {
  const merged = mergeProfiles([newer, older]);

  it('gives the survivor back what it was when nothing happened since', () => {
    const restored = unmergeSurvivor(older, merged, merged, [newer]);
    expect(restored).toEqual({ ...older, updatedAt: merged.updatedAt, active: merged.active });
  });

  it('keeps what happened to the survivor after the merge', () => {
    const later: ProfileRecord = {
      ...merged,
      ids: [...merged.ids, 'later-merge'],
      traits: { ...merged.traits, name: 'Annie', vip: true },
      stats: { purchases: 5, pages: { home: 4, cart: 2 } },
      visits: merged.visits + 4,
    };
    const restored = unmergeSurvivor(older, merged, later, [newer]);
    expect(restored.ids.sort()).toEqual(['later-merge', 'x-imported']);
    expect(restored.traits).toEqual({ ...older.traits, name: 'Annie', vip: true });
    expect(restored.pii).toEqual({ email: 'ann@x.io' });
    expect(restored.stats).toEqual({ purchases: 4, pages: { home: 3 } });
    expect(restored.visits).toBe(7);
    expect(restored.segments).toEqual(['buyers']);
  });
});
