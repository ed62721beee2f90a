import { describe, expect, it } from 'vitest';
import { copyJson } from './values.js';

describe('copyJson', () => {
  it('copies a JSON document deeply: equal, and changing the copy leaves the original as it was', () => {
    const original = { traits: { visits: 2, tags: ['a', { b: null }] }, segments: ['s'], active: true, name: 'x' };
    const copy = copyJson(original);
    expect(copy).toStrictEqual(original);
    copy.traits.visits = 3;
    (copy.traits.tags[1] as { b: unknown }).b = 1;
    copy.segments.push('t');
    expect(original).toStrictEqual({
      traits: { visits: 2, tags: ['a', { b: null }] },
      segments: ['s'],
      active: true,
      name: 'x',
    });
  });
});
