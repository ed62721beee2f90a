import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { parseMappingInput, type MappingBody } from './mapping.js';

const traits = (mapping: MappingBody['mapping'], extra: Partial<MappingBody> = {}): MappingBody => ({
  name: 'n',
  kind: 'event-props-to-traits',
  eventType: 'Purchase',
  mapping,
  ...extra,
});
const toProfile = (mapping: MappingBody['mapping'], extra: Partial<MappingBody> = {}): MappingBody => ({
  name: 'n',
  kind: 'event-to-profile',
  eventType: 'purchase',
  mapping,
  ...extra,
});

/** The field a rejected body is blamed on. */
function blamed(body: MappingBody): string | undefined {
  try {
    parseMappingInput(body);
    return undefined;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    expect(error.code).toBe('bad_request');
    return error.details[0]?.field;
  }
}

describe('parseMappingInput', () => {
  it('normalises the event type and drops dot-notation prefixes', () => {
    expect(parseMappingInput(traits({ 'event@properties.price': 'traits.price' }))).toEqual({
      name: 'n',
      kind: 'event-props-to-traits',
      eventType: 'purchase',
      enabled: true,
      mapping: { 'properties.price': 'traits.price' },
      condition: null,
    });
    expect(
      parseMappingInput(
        toProfile([{ event: 'properties.email', profile: 'profile@pii.email' }], {
          condition: 'event@properties.email EXISTS',
          enabled: false,
        }),
      ),
    ).toMatchObject({
      mapping: [{ event: 'properties.email', profile: 'pii.email', op: 'equals' }],
      condition: 'event@properties.email EXISTS',
      enabled: false,
    });
  });

  it('names the field of every problem', () => {
    expect(blamed(traits({ 'properties.price': 'properties.copy' }))).toBe('mapping["properties.price"]');
    expect(blamed(traits({ 'properties.price': 'traits' }))).toBe('mapping["properties.price"]');
    expect(blamed(traits({ 'properties..x': 'traits.x' }))).toBe('mapping["properties..x"]');
    expect(blamed(traits({ 'properties.__proto__': 'traits.x' }))).toBe('mapping["properties.__proto__"]');
    expect(blamed(traits({ 'properties.a': 'traits.a', 'properties.b': 'traits.a.b' }))).toBe(
      'mapping["properties.b"]',
    );
    expect(blamed(traits({}))).toBe('mapping');
    expect(blamed(traits([{ event: 'a', profile: 'traits.a' }]))).toBe('mapping');
    expect(blamed(traits({ 'properties.a': 'traits.a' }, { condition: 'event@type == "x"' }))).toBe('condition');
    expect(blamed(traits({ 'properties.a': 'traits.a' }, { eventType: '  ' }))).toBe('eventType');
    expect(blamed(toProfile({ 'properties.a': 'traits.a' }))).toBe('mapping');
    expect(blamed(toProfile([]))).toBe('mapping');
    expect(blamed(toProfile([{ event: 'properties.a', profile: 'metadata.a' }]))).toBe('mapping.0.profile');
    expect(blamed(toProfile([{ event: 'properties.a', profile: 'traits' }]))).toBe('mapping.0.profile');
    expect(
      blamed(
        toProfile([
          { profile: 'traits.a', op: 'delete' },
          { profile: 'traits.a', op: 'append' },
        ]),
      ),
    ).toBe('mapping.1.event');
    expect(blamed(toProfile([{ event: 'properties["a', profile: 'traits.a' }]))).toBe('mapping.0.event');
    expect(blamed(toProfile([{ event: 'properties.a', profile: 'traits.a' }], { condition: 'event@x ==' }))).toBe(
      'condition',
    );
    expect(blamed(toProfile([{ event: 'properties.a', profile: 'traits.a' }], { condition: 'payload@x == 1' }))).toBe(
      'condition',
    );
  });

  it('accepts every op, with the event path optional where no event value is needed', () => {
    const ops = ['equals', 'equals_if_not_exists', 'append', 'increment', 'decrement', 'delete'] as const;
    const parsed = parseMappingInput(
      toProfile(ops.map((op) => ({ event: 'properties.v', profile: `stats.${op}`, op }))),
    );
    expect(parsed.mapping).toHaveLength(6);
    for (const op of ['increment', 'decrement', 'delete'] as const)
      expect(blamed(toProfile([{ profile: 'stats.n', op }]))).toBeUndefined();
  });
});
