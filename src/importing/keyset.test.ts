import { describe, expect, it } from 'vitest';
import { KeySequence, uniquelyKeyed } from './keyset.js';

describe('uniquelyKeyed', () => {
  it('gives the rows counted when each has a key of its own, and names the key and both counts otherwise', () => {
    expect(uniquelyKeyed('id', 3, 3)).toBe(3);
    expect(() => uniquelyKeyed('email', 7, 4)).toThrow(
      'the key column "email" must be unique and never null: 7 rows, 4 distinct non-null keys',
    );
  });
});

describe('KeySequence', () => {
  it('takes keys in turn, from the checkpoint', () => {
    const keys = new KeySequence('id', 3);
    expect([4, 5].map((key) => keys.next(key))).toEqual([4, 5]);
    expect(keys.last).toBe(5);
  });

  it('fails on a null key, or one that repeats the one before it, across pages too', () => {
    expect(() => new KeySequence('id', undefined).next(null)).toThrow(
      'the key column "id" is null in a row: the key must be unique and never null',
    );
    expect(() => new KeySequence('id', 'b').next(null)).toThrow('the key column "id" is null in a row after key b');
    const keys = new KeySequence('id', undefined);
    keys.next('a');
    expect(() => keys.next('a')).toThrow('the key column "id" holds a in two rows');
    expect(() => new KeySequence('id', 7).next(7)).toThrow('the key column "id" holds 7 in two rows');
  });
});
