import { describe, expect, it } from 'vitest';
import {
  KEY_TEXT,
  KeySequence,
  keyRef,
  mysqlKeyForm,
  postgresKeyForm,
  resolveKey,
  uniquelyKeyed,
  type MysqlColumn,
} from './keyset.js';

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

  it('refuses rows holding a column of the name the reader gives the key text', () => {
    expect(() => resolveKey('id', ['id', KEY_TEXT])).toThrow(`beside a column named ${KEY_TEXT}`);
  });
});

describe('mysqlKeyForm', () => {
  const column = (columnType: number, more: Partial<MysqlColumn> = {}): MysqlColumn => ({
    columnType,
    flags: 0,
    decimals: 0,
    characterSet: 63,
    ...more,
  });
  const form = (described: MysqlColumn) => mysqlKeyForm('k', described, '`k`');

  it('reads the key back as its type, from the text the server wrote', () => {
    expect(form(column(3))).toEqual({ text: 'CAST(`k` AS CHAR)', value: 'CAST(? AS SIGNED)' });
    expect(form(column(8, { flags: 32 })).value).toBe('CAST(? AS UNSIGNED)');
    expect(form(column(246, { decimals: 4 })).value).toBe('CAST(? AS DECIMAL(65, 4))');
    expect(form(column(12, { decimals: 6 })).value).toBe('CAST(? AS DATETIME(6))');
    expect(form(column(7)).value).toBe('CAST(? AS DATETIME(6))');
    expect(form(column(10)).value).toBe('CAST(? AS DATE)');
    expect(form(column(11)).value).toBe('CAST(? AS TIME(6))');
    expect(form(column(253, { characterSet: 224 }))).toEqual({ text: 'CAST(`k` AS CHAR)', value: '?' });
  });

  it('writes bytes as hexadecimal, and goes on only from a checkpoint so written', () => {
    const bytes = form(column(254, { flags: 128 }));
    expect(bytes).toMatchObject({ text: 'HEX(`k`)', value: 'UNHEX(?)' });
    expect(new KeySequence('k', '00FF', bytes).last).toBe('00FF');
    expect(() => new KeySequence('k', 'AP8=', bytes)).toThrow(
      'the key column "k" cannot go on from AP8=, a checkpoint an earlier version wrote otherwise: start a new run of the import',
    );
  });

  it('refuses what does not go back exactly, or sorts otherwise than it compares', () => {
    expect(() => form(column(4))).toThrow(
      'the key column "k" is FLOAT, whose values do not go back to the server exactly',
    );
    expect(() => form(column(5))).toThrow('is DOUBLE');
    expect(() => form(column(16))).toThrow('is BIT');
    expect(() => form(column(254, { flags: 256, characterSet: 224 }))).toThrow(
      'is ENUM, which sorts by its list of values but compares as text',
    );
    expect(() => form(column(254, { flags: 2048, characterSet: 224 }))).toThrow('is SET');
  });
});

describe('postgresKeyForm', () => {
  it("writes the key as its type's text and reads it back by the key's type; bytes only from such a checkpoint", () => {
    expect(postgresKeyForm(1184, '"at"')).toEqual({ text: '"at"::text', value: '$1' });
    const bytes = postgresKeyForm(17, '"b"');
    expect(new KeySequence('b', '\\x00ff', bytes).last).toBe('\\x00ff');
    expect(() => new KeySequence('b', 'AP8=', bytes)).toThrow('cannot go on from AP8=');
  });
});

describe('keyRef', () => {
  it('keeps the key as read, so that event ids stay as they were', () => {
    expect(keyRef(3, '3')).toBe('3');
    expect(keyRef('18446744073709551615', '18446744073709551615')).toBe('18446744073709551615');
    expect(keyRef('Bob@x.com', 'Bob@x.com')).toBe('Bob@x.com');
    expect(keyRef('AP8=', '00FF')).toBe('AP8=');
    expect(keyRef('2023-01-01T00:00:00.000Z', '2023-01-01 00:00:00')).toBe('2023-01-01T00:00:00.000Z');
    expect(keyRef('2023-01-01T00:00:00.120Z', '2023-01-01 00:00:00.120000')).toBe('2023-01-01T00:00:00.120Z');
  });

  it('keeps a time to the millisecond, as an earlier version read it, whatever further digits the server gives', () => {
    expect(keyRef('2023-01-01T00:00:00.123Z', '2023-01-01 00:00:00.123456')).toBe('2023-01-01T00:00:00.123Z');
    expect(keyRef('2023-01-01T00:00:00.123Z', '2023-01-01 00:00:00.123456', '2023-01-01 00:00:00.122999')).toBe(
      '2023-01-01T00:00:00.123Z',
    );
  });

  it("adds the server's further digits to a time in the same millisecond as the key before it", () => {
    expect(keyRef('2023-01-01T00:00:00.123Z', '2023-01-01 00:00:00.123789', '2023-01-01 00:00:00.123456')).toBe(
      '2023-01-01T00:00:00.123789Z',
    );
    expect(keyRef('2023-01-01T00:00:00.123Z', '2023-01-01 02:00:00.12345+02', '2023-01-01 02:00:00.1231+02')).toBe(
      '2023-01-01T00:00:00.12345Z',
    );
    // The first key of a millisecond keeps the ref an earlier version gave it.
    expect(keyRef('2023-01-01T00:00:00.123Z', '2023-01-01 00:00:00.1231', '2023-01-01 00:00:00.12')).toBe(
      '2023-01-01T00:00:00.123Z',
    );
  });

  it("gives the server's text for a value JSON cannot hold", () => {
    expect(keyRef(null, 'infinity')).toBe('infinity');
    expect(keyRef({ a: 1 }, '{"a": 1}')).toBe('{"a": 1}');
  });
});

describe('KeySequence', () => {
  const form = postgresKeyForm(25, '"k"');

  it('takes pages of keys in turn, from the checkpoint', () => {
    const keys = new KeySequence('id', 3, form);
    expect(keys.page(['4', '5'])).toEqual(['4', '5']);
    expect(keys.page(['6'])).toEqual(['6']);
    expect(keys.last).toBe('6');
  });

  it('fails on a null key, or one that repeats the one before it', () => {
    expect(() => new KeySequence('id', undefined, form).page([null])).toThrow(
      'the key column "id" is null in a row: the key must be unique and never null',
    );
    expect(() => new KeySequence('id', 'a', form).page(['b', null])).toThrow(
      'the key column "id" is null in a row after key b',
    );
    expect(() => new KeySequence('id', undefined, form).page(['a', 'a'])).toThrow(
      'the key column "id" holds a in two rows',
    );
  });

  it('fails on a page that does not go on past its checkpoint, rather than read it forever', () => {
    const keys = new KeySequence('at', undefined, form);
    keys.page(['2023-01-01T00:00:00.123Z']);
    expect(() => keys.page(['2023-01-01T00:00:00.123Z'])).toThrow(
      'the key column "at" gave 2023-01-01T00:00:00.123Z again in the rows after 2023-01-01T00:00:00.123Z',
    );
  });
});
