import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { applyProfileChanges } from './profile-changes.js';

const profile = () => ({
  id: 'p1',
  ids: ['p1'],
  traits: { visits: 2, tags: ['a'] },
  data: {},
  consents: {},
  segments: ['vip'],
});

describe('applyProfileChanges', () => {
  it('returns a new document and leaves the input untouched', () => {
    const before = profile();
    const after = applyProfileChanges(before, [{ op: 'set', path: 'traits.name', value: 'Ann' }]);
    expect(after['traits']).toEqual({ visits: 2, tags: ['a'], name: 'Ann' });
    expect(before.traits).toEqual({ visits: 2, tags: ['a'] });
  });

  it('sets nested paths, creating objects, and deletes', () => {
    const after = applyProfileChanges(profile(), [
      { op: 'set', path: 'data.contact.email.main', value: 'a@b.c' },
      { op: 'delete', path: 'traits.visits' },
    ]);
    expect(after['data']).toEqual({ contact: { email: { main: 'a@b.c' } } });
    expect(after['traits']).toEqual({ tags: ['a'] });
  });

  it('increments numbers, counting a missing field as zero, and refuses a non-number', () => {
    const after = applyProfileChanges(profile(), [
      { op: 'increment', path: 'traits.visits', by: 3 },
      { op: 'increment', path: 'stats.orders', by: -1 },
    ]);
    expect(after['traits']).toMatchObject({ visits: 5 });
    expect(after['stats']).toEqual({ orders: -1 });
    expect(() => applyProfileChanges(profile(), [{ op: 'increment', path: 'traits.tags', by: 1 }])).toThrow(
      /not a number/,
    );
  });

  it('appends (uniquely when asked) and removes list items, making a list of a single value', () => {
    const after = applyProfileChanges({ ...profile(), traits: { tags: ['a'], one: 'x' } }, [
      { op: 'append', path: 'traits.tags', values: ['a', 'b'], unique: true },
      { op: 'append', path: 'traits.one', values: ['y'], unique: false },
      { op: 'append', path: 'traits.fresh', values: [{ k: 1 }], unique: true },
      { op: 'remove', path: 'traits.tags', values: ['a'] },
    ]);
    expect(after['traits']).toEqual({ tags: ['b'], one: ['x', 'y'], fresh: [{ k: 1 }] });
  });

  it('adds a segment once and removes it', () => {
    const added = applyProfileChanges(profile(), [
      { op: 'add-segment', segment: 'buyers' },
      { op: 'add-segment', segment: 'buyers' },
    ]);
    expect(added['segments']).toEqual(['vip', 'buyers']);
    expect(applyProfileChanges(added, [{ op: 'remove-segment', segment: 'vip' }])['segments']).toEqual(['buyers']);
    // A segment the profile has stays where it is: deciding the same again leaves the profile equal.
    expect(applyProfileChanges(added, [{ op: 'add-segment', segment: 'vip' }])).toEqual(added);
  });

  it('grants and revokes consents', () => {
    const granted = applyProfileChanges(profile(), [
      { op: 'consent', consent: 'marketing', granted: true, revokeAt: '2027-01-01T00:00:00.000Z' },
      { op: 'consent', consent: 'stats', granted: true },
    ]);
    expect(granted['consents']).toEqual({ marketing: { revoke: '2027-01-01T00:00:00.000Z' }, stats: { revoke: null } });
    const revoked = applyProfileChanges(granted, [{ op: 'consent', consent: 'marketing', granted: false }]);
    expect(revoked['consents']).toEqual({ stats: { revoke: null } });
  });

  it.each(['id', 'ids', 'ids.0'])('refuses to write %s', (path) => {
    expect(() => applyProfileChanges(profile(), [{ op: 'set', path, value: 'x' }])).toThrow(DomainError);
  });

  it('refuses a key that reaches into the prototype', () => {
    expect(() => applyProfileChanges(profile(), [{ op: 'set', path: 'traits.__proto__.x', value: 1 }])).toThrow();
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});
