import { describe, expect, it } from 'vitest';
import { coerce, derivedId, RowRejected, rowToEvent, rowToProfile } from './rows.js';

describe('derivedId', () => {
  it('is a UUID that depends only on its parts', () => {
    const id = derivedId('import-1', 'event', 'line 2');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedId('import-1', 'event', 'line 2')).toBe(id);
    expect(derivedId('import-2', 'event', 'line 2')).not.toBe(id);
    expect(derivedId('import-1', 'event', 'line 3')).not.toBe(id);
  });
});

describe('coerce', () => {
  it('reads numbers, booleans, dates and JSON, and leaves empty values out', () => {
    expect(coerce(' 12.5 ', 'number', undefined, 'f')).toBe(12.5);
    expect(coerce('Yes', 'boolean', undefined, 'f')).toBe(true);
    expect(coerce('0', 'boolean', undefined, 'f')).toBe(false);
    expect(coerce('2024-02-29 13:14:15', 'date', undefined, 'f')).toBe('2024-02-29T13:14:15.000Z');
    expect(coerce('2024-02-29T13:14:15+02:00', 'date', undefined, 'f')).toBe('2024-02-29T11:14:15.000Z');
    expect(coerce('1700000000', 'date', 'epoch', 'f')).toBe('2023-11-14T22:13:20.000Z');
    expect(coerce('31/12/2023 23:59', 'date', 'DD/MM/YYYY HH:mm', 'f')).toBe('2023-12-31T23:59:00.000Z');
    expect(coerce('{"a":[1]}', 'json', undefined, 'f')).toEqual({ a: [1] });
    expect(coerce('', 'number', undefined, 'f')).toBeUndefined();
    expect(coerce(7, undefined, undefined, 'f')).toBe('7');
  });

  it('rejects what is not of its type, naming the field', () => {
    expect(() => coerce('12a', 'number', undefined, 'price')).toThrow(
      new RowRejected('price: expected a number, got "12a"'),
    );
    expect(() => coerce('maybe', 'boolean', undefined, 'f')).toThrow(RowRejected);
    expect(() => coerce('2023-02-30', 'date', 'YYYY-MM-DD', 'f')).toThrow(/expected a date/);
    expect(() => coerce('yesterday', 'date', undefined, 'f')).toThrow(/expected a date \(iso\)/);
  });
});

describe('rowToEvent', () => {
  it('maps columns and dot paths into typed, nested properties', () => {
    const event = rowToEvent(
      'imp',
      'line 2',
      { user: 'u1', price: '3', meta: { city: 'Oslo' }, at: '2024-01-02T03:04:05Z' },
      {
        profileId: 'user',
        time: 'at',
        properties: { 'order.price': { from: 'price', type: 'number' }, city: 'meta.city', missing: 'nope' },
      },
    );
    expect(event).toEqual({
      id: derivedId('imp', 'event', 'line 2'),
      profileId: 'u1',
      sessionId: derivedId('imp', 'session', 'u1'),
      occurredAt: new Date('2024-01-02T03:04:05.000Z'),
      properties: { order: { price: 3 }, city: 'Oslo' },
    });
  });

  it('keeps every column without a property mapping, and makes a person of a row without a profile', () => {
    const event = rowToEvent('imp', 'key 9', { a: '1', b: 'x' }, {});
    expect(event.properties).toEqual({ a: '1', b: 'x' });
    expect(event.profileId).toBe(derivedId('imp', 'profile', 'key 9'));
    expect(event.occurredAt).toBeUndefined();
  });

  it('rejects a row missing a required value', () => {
    expect(() => rowToEvent('imp', 'line 3', { a: '' }, { properties: { a: { from: 'a', required: true } } })).toThrow(
      'properties.a: "a" is missing or empty',
    );
  });
});

describe('templates', () => {
  it('fill {{column}} and {{dot.path}} placeholders, then take the type asked for', () => {
    const event = rowToEvent(
      'imp',
      'line 2',
      { first: 'Ada', last: 'Lovelace', n: { v: '4' }, gone: null },
      {
        properties: {
          name: { template: '{{first}} {{ last }}{{gone}}' },
          count: { template: '{{n.v}}2', type: 'number' },
        },
      },
    );
    expect(event.properties).toEqual({ name: 'Ada Lovelace', count: 42 });
  });
});

describe('rowToProfile by an identity key', () => {
  const settings = { keys: ['pii.email'], placeholders: ['unknown'], maxMergeProfiles: 10 };
  const mapping = { identityKey: 'pii.email', pii: { email: 'mail' }, traits: { name: 'name' } };

  it('names the profile by the normalised value, the same however the value is written', () => {
    const ann = rowToProfile('imp', { mail: ' Ann@Example.com ', name: 'Ann' }, mapping, settings);
    expect(ann).toEqual({
      id: derivedId('imp', 'profile', 'pii.email', 'ann@example.com'),
      key: { key: 'pii.email', value: 'ann@example.com' },
      traits: { name: 'Ann' },
      pii: { email: ' Ann@Example.com ' },
    });
    expect(rowToProfile('imp', { mail: 'ANN@example.com' }, mapping, settings).id).toBe(ann.id);
  });

  it('rejects a row whose value identifies nobody', () => {
    for (const mail of ['', 'Unknown', undefined])
      expect(() => rowToProfile('imp', { mail, name: 'x' }, mapping, settings)).toThrow(RowRejected);
  });
});
