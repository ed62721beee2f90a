import { describe, expect, it } from 'vitest';
import { applyToProfile, eventDocument, propsToTraits, type ProfileDocument } from './apply.js';
import type { Mapping, ProfileCopy } from './mapping.js';

const T = new Date('2026-03-01T12:00:00Z');
const event = (properties: Record<string, unknown>, type = 'purchase') =>
  eventDocument({
    id: 'e1',
    type,
    profileId: 'p1',
    sessionId: 's1',
    sourceId: 'src',
    properties,
    context: { page: { url: '/cart' } },
    tags: ['a'],
    occurredAt: T,
    insertedAt: T,
  });

const profile = (parts: Partial<ProfileDocument> = {}): ProfileDocument => ({
  id: 'p1',
  traits: {},
  pii: {},
  data: {},
  stats: {},
  consents: {},
  ...parts,
});

const base = { name: 'm', eventType: 'purchase', enabled: true, createdAt: '', updatedAt: '' };
const toProfile = (copies: ProfileCopy[], extra: Partial<Mapping> = {}): Mapping =>
  ({ ...base, id: 'to-profile', kind: 'event-to-profile', mapping: copies, condition: null, ...extra }) as Mapping;
const toTraits = (rules: Record<string, string>, extra: Partial<Mapping> = {}): Mapping =>
  ({ ...base, id: 'to-traits', kind: 'event-props-to-traits', mapping: rules, condition: null, ...extra }) as Mapping;

/** Applies one copy to a profile and returns [changed, the profile's data]. */
function apply(copy: ProfileCopy, data: Record<string, unknown>, properties: Record<string, unknown>) {
  const target = profile({ data });
  const result = applyToProfile(target, event(properties), undefined, [toProfile([copy])]);
  return { changed: result.changed, data: target.data, result };
}

describe('eventDocument', () => {
  it('has the shape conditions read', () => {
    expect(event({ price: 1 })).toMatchObject({
      id: 'e1',
      type: 'purchase',
      profile: { id: 'p1' },
      session: { id: 's1' },
      source: { id: 'src' },
      properties: { price: 1 },
      traits: {},
      metadata: { time: { occurred: T.toISOString() } },
    });
  });
});

describe('propsToTraits', () => {
  it('copies values of any type from anywhere in the event into traits, keeping the traits it had', () => {
    const source = { ...event({ price: 12.5, items: [{ sku: 'x' }] }), traits: { kept: true } };
    const { traits, failed } = propsToTraits(source, [
      toTraits({
        'properties.price': 'traits.price',
        'properties.items.0.sku': 'traits.first.sku',
        'context.page.url': 'traits.url',
        'properties.none': 'traits.none',
      }),
    ]);
    expect(traits).toEqual({ kept: true, price: 12.5, first: { sku: 'x' }, url: '/cart' });
    expect(failed).toEqual([]);
    expect(source.traits).toEqual({ kept: true });
  });

  it('ignores mappings of other event types, kinds, or disabled ones', () => {
    const rules = { 'properties.price': 'traits.price' };
    const mappings = [
      toTraits(rules, { eventType: 'page-view' }),
      toTraits(rules, { enabled: false }),
      toProfile([{ event: 'properties.price', profile: 'data.price', op: 'equals' }]),
    ];
    expect(propsToTraits(event({ price: 1 }), mappings).traits).toEqual({});
  });

  it('reports a copy it cannot write instead of throwing', () => {
    const source = { ...event({ price: 1 }), traits: { price: 'flat' } };
    const { traits, failed } = propsToTraits(source, [toTraits({ 'properties.price': 'traits.price.amount' })]);
    expect(traits).toEqual({ price: 'flat' });
    expect(failed).toHaveLength(1);
  });
});

describe('applyToProfile ops', () => {
  it('equals sets the value, and does nothing when the event lacks it or it is already equal', () => {
    expect(
      apply(
        { event: 'properties.email', profile: 'data.contact.email', op: 'equals' },
        { contact: { email: 'old@x' } },
        { email: 'new@x' },
      ),
    ).toMatchObject({
      changed: true,
      data: { contact: { email: 'new@x' } },
    });
    expect(
      apply({ event: 'properties.missing', profile: 'data.email', op: 'equals' }, { email: 'a' }, {}),
    ).toMatchObject({ changed: false, data: { email: 'a' } });
    expect(
      apply(
        { event: 'properties.tags', profile: 'data.tags', op: 'equals' },
        { tags: ['a', 'b'] },
        { tags: ['a', 'b'] },
      ).changed,
    ).toBe(false);
  });

  it('equals_if_not_exists sets only a missing or null value', () => {
    const copy = { event: 'properties.email', profile: 'data.email', op: 'equals_if_not_exists' } as const;
    expect(apply(copy, {}, { email: 'a' })).toMatchObject({ changed: true, data: { email: 'a' } });
    expect(apply(copy, { email: null }, { email: 'a' })).toMatchObject({ changed: true, data: { email: 'a' } });
    expect(apply(copy, { email: 'kept' }, { email: 'a' })).toMatchObject({ changed: false, data: { email: 'kept' } });
  });

  it('append adds to a list, turns a scalar into a list, spreads a list value, and skips values already there', () => {
    const copy = { event: 'properties.item', profile: 'data.items', op: 'append' } as const;
    expect(apply(copy, {}, { item: 'a' }).data).toEqual({ items: ['a'] });
    expect(apply(copy, { items: 'a' }, { item: 'b' }).data).toEqual({ items: ['a', 'b'] });
    expect(apply(copy, { items: ['a'] }, { item: ['b', 'a', 'c'] }).data).toEqual({ items: ['a', 'b', 'c'] });
    expect(apply(copy, { items: [{ sku: 1 }] }, { item: { sku: 1 } })).toMatchObject({
      changed: false,
      data: { items: [{ sku: 1 }] },
    });
    expect(apply(copy, { items: 'a' }, { item: 'a' })).toMatchObject({ changed: true, data: { items: ['a'] } });
  });

  it('increment adds a numeric event value, or 1; a missing counter starts at 0; a non-number is left alone', () => {
    const copy = { event: 'properties.amount', profile: 'stats.spent', op: 'increment' } as const;
    const counter = (data: Record<string, unknown>, properties: Record<string, unknown>) => {
      const target = profile({ stats: data });
      const result = applyToProfile(target, event(properties), undefined, [toProfile([copy])]);
      return { changed: result.changed, stats: target.stats };
    };
    expect(counter({ spent: 10 }, { amount: 2.5 }).stats).toEqual({ spent: 12.5 });
    expect(counter({}, { amount: 5 }).stats).toEqual({ spent: 5 });
    expect(counter({ spent: 10 }, { amount: 'many' }).stats).toEqual({ spent: 11 });
    expect(counter({ spent: 10 }, {}).stats).toEqual({ spent: 11 });
    expect(counter({ spent: 'lots' }, { amount: 1 })).toEqual({ changed: false, stats: { spent: 'lots' } });
    const withoutEvent = profile({ stats: { visits: 1 } });
    applyToProfile(withoutEvent, event({}), undefined, [toProfile([{ profile: 'stats.visits', op: 'increment' }])]);
    expect(withoutEvent.stats).toEqual({ visits: 2 });
  });

  it('decrement subtracts a numeric event value, or 1', () => {
    expect(
      apply({ event: 'properties.n', profile: 'data.left', op: 'decrement' }, { left: 10 }, { n: 3 }).data,
    ).toEqual({ left: 7 });
    expect(apply({ event: 'properties.n', profile: 'data.left', op: 'decrement' }, {}, {}).data).toEqual({ left: -1 });
  });

  it('delete removes the target, and reports no change when it was not there', () => {
    expect(
      apply({ profile: 'data.contact.phone', op: 'delete' }, { contact: { phone: '1', email: 'e' } }, {}),
    ).toMatchObject({
      changed: true,
      data: { contact: { email: 'e' } },
    });
    expect(apply({ profile: 'data.contact.phone', op: 'delete' }, {}, {}).changed).toBe(false);
  });
});

describe('applyToProfile', () => {
  it('applies mappings in order, gated by their condition over event, profile and session', () => {
    const target = profile({ traits: { vip: true } });
    const mappings = [
      toProfile([{ event: 'properties.email', profile: 'pii.email', op: 'equals' }], {
        id: 'vip-only',
        condition: 'profile@traits.vip == true AND session@device.type == "mobile"',
      }),
      toProfile([{ event: 'properties.email', profile: 'pii.other', op: 'equals' }], {
        id: 'never',
        condition: 'event@properties.email == "nobody"',
      }),
    ];
    const result = applyToProfile(target, event({ email: 'a@b' }), { device: { type: 'mobile' } }, mappings);
    expect(result).toEqual({ changed: true, applied: ['vip-only'], failed: [] });
    expect(target.pii).toEqual({ email: 'a@b' });
  });

  it('applies a mapping whole or not at all', () => {
    const target = profile({ data: { name: 'n', contact: 'not an object' } });
    const result = applyToProfile(target, event({ email: 'a@b', name: 'new' }), undefined, [
      toProfile([
        { event: 'properties.name', profile: 'data.name', op: 'equals' },
        { event: 'properties.email', profile: 'data.contact.email', op: 'equals' },
      ]),
    ]);
    expect(result.changed).toBe(false);
    expect(result.failed).toEqual([{ mappingId: 'to-profile', message: expect.stringContaining('contact') }]);
    expect(target.data).toEqual({ name: 'n', contact: 'not an object' });
  });

  it('reports applied-but-unchanged mappings so their event is marked', () => {
    const target = profile({ data: { email: 'a' } });
    expect(
      applyToProfile(target, event({ email: 'a' }), undefined, [
        toProfile([{ event: 'properties.email', profile: 'data.email', op: 'equals' }]),
      ]),
    ).toEqual({
      changed: false,
      applied: ['to-profile'],
      failed: [],
    });
  });
});
