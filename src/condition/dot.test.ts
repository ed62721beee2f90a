import { describe, expect, it } from 'vitest';
import {
  castString,
  deleteDotPath,
  DotPathError,
  isDotPath,
  parseDotPath,
  readDotPath,
  readDotPathOr,
  writeDotPath,
  type DotContext,
} from './dot.js';

describe('dot notation', () => {
  it('parses source and path', () => {
    expect(parseDotPath('profile@traits["first name"].0')).toEqual({
      source: 'profile',
      path: ['traits', 'first name', '0'],
    });
    expect(parseDotPath('session@...')).toEqual({ source: 'session', path: [] });
    expect(parseDotPath('nope@x')).toBeUndefined();
    expect(isDotPath('plain text')).toBe(false);
  });

  it('reads values, literals and casts', () => {
    const context: DotContext = { event: { properties: { price: '9.5', list: [1, 2, 3] } } };
    expect(readDotPath(context, 'event@properties.list.-1')).toBe(3);
    expect(readDotPath(context, '`event@properties.price`')).toBe(9.5);
    expect(readDotPath(context, 'just text')).toBe('just text');
    expect(() => readDotPath(context, 'event@properties.missing')).toThrow(DotPathError);
    expect(readDotPathOr(context, 'event@properties.missing', 'fallback')).toBe('fallback');
    expect(castString('None')).toBeNull();
    expect(castString('-12')).toBe(-12);
    expect(castString('12abc')).toBe('12abc');
  });

  it('writes, creating what is missing', () => {
    const context: DotContext = {};
    writeDotPath(context, 'profile@traits.address.city', 'Warsaw');
    writeDotPath(context, 'profile@traits["first name"]', 'Ann');
    writeDotPath(context, 'memory@...', { counter: 1 });
    expect(context).toEqual({
      profile: { traits: { address: { city: 'Warsaw' }, 'first name': 'Ann' } },
      memory: { counter: 1 },
    });
  });

  it('writes list items in range only', () => {
    const context: DotContext = { profile: { tags: ['a', 'b'] } };
    writeDotPath(context, 'profile@tags.1', 'B');
    writeDotPath(context, 'profile@tags.2', 'c');
    expect((context.profile as { tags: string[] }).tags).toEqual(['a', 'B', 'c']);
    expect(() => writeDotPath(context, 'profile@tags.9', 'x')).toThrow(DotPathError);
  });

  it('refuses to write through scalars or into the prototype', () => {
    const context: DotContext = { profile: { age: 3 } };
    expect(() => writeDotPath(context, 'profile@age.years', 1)).toThrow(/Cannot write through/);
    expect(() => writeDotPath(context, 'profile@__proto__.polluted', 1)).toThrow(/not allowed/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(() => writeDotPath(context, 'not a path', 1)).toThrow(DotPathError);
  });

  it('deletes keys and list items', () => {
    const context: DotContext = { profile: { a: { b: 1, c: 2 }, list: [1, 2, 3] } };
    expect(deleteDotPath(context, 'profile@a.b')).toBe(true);
    expect(deleteDotPath(context, 'profile@a.b')).toBe(false);
    expect(deleteDotPath(context, 'profile@list.0')).toBe(true);
    expect(deleteDotPath(context, 'profile@missing.x')).toBe(false);
    expect(context.profile).toEqual({ a: { c: 2 }, list: [2, 3] });
    expect(deleteDotPath(context, 'profile@...')).toBe(true);
    expect(context.profile).toBeUndefined();
  });
});
