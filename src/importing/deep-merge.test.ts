import { describe, expect, it } from 'vitest';
import { deepMerge, holdsObject } from './deep-merge.js';

describe('deepMerge', () => {
  it('merges objects key by key at every depth', () => {
    const stored = { name: 'Ann', address: { city: 'Oslo', geo: { lat: 59 } } };
    expect(deepMerge(stored, { address: { zip: '0150', geo: { lon: 10 } } })).toEqual({
      name: 'Ann',
      address: { city: 'Oslo', zip: '0150', geo: { lat: 59, lon: 10 } },
    });
  });

  it('replaces with any value that is not an object over an object', () => {
    const stored = { tags: ['a', 'b'], address: { city: 'Oslo' }, score: 1, note: { x: 1 } };
    expect(deepMerge(stored, { tags: ['c'], address: 'unknown', score: { total: 2 }, note: null })).toEqual({
      tags: ['c'],
      address: 'unknown',
      score: { total: 2 },
      note: null,
    });
  });

  it('changes neither side', () => {
    const stored = { address: { city: 'Oslo' } };
    const incoming = { address: { zip: '0150' } };
    deepMerge(stored, incoming);
    expect(stored).toEqual({ address: { city: 'Oslo' } });
    expect(incoming).toEqual({ address: { zip: '0150' } });
  });

  it('keeps a "__proto__" key as data, laid over no inherited value', () => {
    const own = (object: object, key: string): unknown => Object.getOwnPropertyDescriptor(object, key)?.value;
    const merged = deepMerge({}, JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}}'));
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged)).toEqual(['__proto__', 'constructor']);
    expect(own(merged, '__proto__')).toEqual({ polluted: true });
    expect(own(merged, 'constructor')).toEqual({ prototype: 1 });
    expect(own(deepMerge(merged, JSON.parse('{"__proto__": {"more": 1}}')), '__proto__')).toEqual({
      polluted: true,
      more: 1,
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('holdsObject', () => {
  it('tells flat values from an object among them', () => {
    expect(holdsObject({ a: 1, b: [{ c: 1 }], d: null, e: 'x' })).toBe(false);
    expect(holdsObject({ a: 1, address: { city: 'Oslo' } })).toBe(true);
  });
});
