import { describe, expect, it } from 'vitest';
import { findTooDeep, findUnstorable, findUnstorableField, MAX_NESTING_DEPTH } from './storable.js';

/** An object `depth` levels deep, `{a: {a: … {}}}`, the outermost being level 1. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < depth; level++) value = { a: value };
  return value;
}

describe('findUnstorable', () => {
  it('accepts ordinary JSON, including characters outside the BMP (surrogate pairs)', () => {
    expect(
      findUnstorable({ q: 'zażółć 😀', list: [1, true, null, { '😀': 'ok' }], n: 1.5 }, 'properties'),
    ).toBeUndefined();
  });

  it.each([
    ['a NUL in a string', { q: 'a\u0000b' }, 'properties.q', 'NUL'],
    ['a lone high surrogate', { q: '\ud800' }, 'properties.q', 'unpaired UTF-16 surrogate'],
    ['a lone low surrogate', { q: 'x\udc00y' }, 'properties.q', 'unpaired UTF-16 surrogate'],
    ['surrogates in the wrong order', { q: '\ude00\ud83d' }, 'properties.q', 'unpaired UTF-16 surrogate'],
    [
      'a lone surrogate inside an array',
      { list: ['ok', ['\ud800']] },
      'properties.list.1.0',
      'unpaired UTF-16 surrogate',
    ],
    ['a NUL in a key', { 'a\u0000b': 1 }, 'properties.a\\u0000b', 'key contains a NUL'],
    ['a lone surrogate in a key', { '\ud800': 1 }, 'properties.\\ud800', 'key contains an unpaired UTF-16 surrogate'],
  ])('names %s by its path', (_name, value, field, message) => {
    const problem = findUnstorable(value, 'properties');
    expect(problem?.field).toBe(field);
    expect(problem?.message).toContain(message);
  });

  it(`accepts ${MAX_NESTING_DEPTH} levels of nesting and refuses one more, naming where it goes too deep`, () => {
    expect(findUnstorable(nested(MAX_NESTING_DEPTH), 'properties')).toBeUndefined();
    const problem = findUnstorable(nested(MAX_NESTING_DEPTH + 1), 'properties');
    expect(problem?.field).toBe(['properties', ...Array.from({ length: MAX_NESTING_DEPTH }, () => 'a')].join('.'));
    expect(problem?.message).toContain(`deeper than ${MAX_NESTING_DEPTH} levels`);
    expect(findUnstorable([[[[]]]], 'tags', MAX_NESTING_DEPTH - 2)?.field).toBe('tags.0.0.0');
  });

  it('stays within the stack on a document nested far beyond what JSON.stringify survives', () => {
    const hostile = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    expect(findUnstorable(hostile, 'context')?.message).toContain('deeper than');
  });
});

describe('findUnstorableField', () => {
  it('checks the named fields only, in order, under a prefix', () => {
    const event = { type: 'a', properties: { q: '\ud800' }, context: { q: '\u0000' }, ignored: '\u0000' };
    expect(findUnstorableField(event, ['type', 'properties', 'context'], 'events.3.')).toEqual({
      field: 'events.3.properties.q',
      message: expect.stringContaining('surrogate'),
    });
    expect(findUnstorableField(event, ['type'], 'events.3.')).toBeUndefined();
  });
});

describe('findTooDeep', () => {
  it('checks nesting only, not characters', () => {
    expect(findTooDeep({ q: '\ud800\u0000' }, 'context')).toBeUndefined();
    expect(findTooDeep(nested(MAX_NESTING_DEPTH), 'context')).toBeUndefined();
    expect(findTooDeep(nested(100_000), 'context')?.message).toContain('deeper than');
  });
});
