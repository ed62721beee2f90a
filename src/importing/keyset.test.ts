import { describe, expect, it } from 'vitest';
import { KeySequence, resolveKey, uniquelyKeyed } from './keyset.js';

describe('uniquelyKeyed', () => {
  it('gives the rows counted when each has a key of its own, and names the key and both counts otherwise', () => {
    expect(uniquelyKeyed('id', 3, 3)).toBe(3);
    expect(() => uniquelyKeyed('email', 7, 4)).toThrow(
      'the key column "email" must be unique and never null: 7 rows, 4 distinct non-null keys',
    );
  });
});

describe('resolveKey', () => {
  it('finds the column named so, else the one named so but for case, and refuses one the rows lack', () => {
    expect(resolveKey('id', ['ID', 'id'])).toBe('id');
    expect(resolveKey('ID', ['id', 'email'])).toBe('id');
    expect(() => resolveKey('key', ['id', 'email'])).toThrow(
      'the key column "key" is not among the columns of the rows: id, email',
    );
    expect(() => resolveKey('iD', ['ID', 'id'])).toThrow('is not among the columns');
  });
});

describe('KeySequence', () => {
  it('takes pages of keys in turn, from the checkpoint', () => {
    const keys = new KeySequence('id', 3);
    expect(keys.page([4, 5])).toEqual([4, 5]);
    expect(keys.page([6])).toEqual([6]);
    expect(keys.last).toBe(6);
  });

  it('fails on a null key, or one that repeats the one before it', () => {
    expect(() => new KeySequence('id', undefined).page([null])).toThrow(
      'the key column "id" is null in a row: the key must be unique and never null',
    );
    expect(() => new KeySequence('id', 'a').page(['b', null])).toThrow(
      'the key column "id" is null in a row after key b',
    );
    expect(() => new KeySequence('id', undefined).page(['a', 'a'])).toThrow('the key column "id" holds a in two rows');
  });

  it('fails on a page that does not go on past its checkpoint, rather than read it forever', () => {
    const keys = new KeySequence('at', undefined);
    keys.page(['2023-01-01T00:00:00.123Z']);
    expect(() => keys.page(['2023-01-01T00:00:00.123Z'])).toThrow(
      'the key column "at" gave 2023-01-01T00:00:00.123Z again in the rows after 2023-01-01T00:00:00.123Z',
    );
  });
});
