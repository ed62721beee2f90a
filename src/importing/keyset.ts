/**
 * The key of a database source, which orders its rows, keys each one (its event id derives from it)
 * and is the checkpoint a run goes on from: it must be unique and never null, a page of rows must go
 * on past the last key read, and the key goes to the server and back exactly, as the server's own
 * text (a JavaScript Date holds milliseconds, a column microseconds; a double holds 16 digits, a
 * decimal 65). Pure: the readers (sources.ts) ask the server, these judge.
 */
import { invalidInput } from '../shared/errors.js';

const KEY_RULE = 'the key must be unique and never null';

/** A run's failure for its key: the message names the key and what is wrong. */
export const keyError = (key: string, problem: string) =>
  invalidInput(`the key column "${key}" ${problem}`, [{ field: 'source.key', message: problem }]);

/**
 * Refuses a key that is not unique and never null, by the server's count of the rows and of their
 * distinct keys: the server compares keys as it orders them (under the column's collation, where
 * `Bob@x.com` may be `bob@x.com`). Two rows under one key would share an event id, and a keyset page
 * would skip the rest of a key's rows; a null key has no place in the order. Gives the rows counted.
 */
export function uniquelyKeyed(key: string, rows: number, keys: number): number {
  if (rows !== keys) throw keyError(key, `must be unique and never null: ${rows} rows, ${keys} distinct non-null keys`);
  return rows;
}

/** The name a reader gives the key's text among a row's columns; a source's own column may not have it. */
export const KEY_TEXT = '__meridian_key';

/**
 * The column the rows name the key by: the one named so, else the one named so but for case (MySQL
 * and MariaDB ignore it, so `ID` finds `id` there, while a row holds `id` only). A key the rows do
 * not hold would read as missing in every row.
 */
export function resolveKey(key: string, columns: readonly string[]): string {
  if (columns.includes(KEY_TEXT)) throw keyError(key, `cannot be read beside a column named ${KEY_TEXT}: rename it`);
  if (columns.includes(key)) return key;
  const matches = columns.filter((column) => column.toLowerCase() === key.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  throw keyError(key, `is not among the columns of the rows: ${columns.join(', ')}`);
}

/** How a key goes to the server and back exactly: the server writes it as text, and reads that text back. */
export interface KeyForm {
  /** SQL giving the key as text, the checkpoint: the server's own writing of the value. */
  text: string;
  /** SQL reading the (first) parameter, such a text, as a value of the key's type. */
  value: string;
  /** Where an earlier version wrote checkpoints of this key otherwise (bytes as base64): those this form writes. */
  written?: RegExp;
}

/** A MySQL/MariaDB result column as the server describes it (mysql2's FieldPacket). */
export interface MysqlColumn {
  columnType?: number;
  flags: number | string[];
  decimals: number;
  characterSet?: number;
}

/** The protocol's column types (include/mysql_com.h), by name. */
const MYSQL_TYPES = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  VECTOR: 242,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;
const MYSQL_UNSIGNED_FLAG = 32;
const MYSQL_ENUM_FLAG = 256;
const MYSQL_SET_FLAG = 2048;
/** The character set of bytes: BINARY, VARBINARY and BLOB columns (and numbers, which are no strings). */
const MYSQL_BINARY_CHARSET = 63;

const KEY_TYPES = 'a key holds integers, decimals, text, bytes, dates or times';

/**
 * How a MySQL/MariaDB key (`quoted`) goes to the server and back: as `CAST(key AS CHAR)`, read back
 * by a cast to the column's type (a string would compare as a double with a number, and lose a
 * DATETIME(6)'s microseconds in a JavaScript Date), bytes as hexadecimal. Refuses what does not go
 * back exactly (FLOAT, DOUBLE), or sorts otherwise than it compares (ENUM and SET sort by their list).
 */
export function mysqlKeyForm(key: string, column: MysqlColumn, quoted: string): KeyForm {
  const flags = typeof column.flags === 'number' ? column.flags : 0;
  const text = `CAST(${quoted} AS CHAR)`;
  const T = MYSQL_TYPES;
  switch (column.columnType) {
    case T.TINY:
    case T.SHORT:
    case T.LONG:
    case T.INT24:
    case T.LONGLONG:
    case T.YEAR:
      return { text, value: `CAST(? AS ${flags & MYSQL_UNSIGNED_FLAG ? 'UNSIGNED' : 'SIGNED'})` };
    case T.DECIMAL:
    case T.NEWDECIMAL:
      return { text, value: `CAST(? AS DECIMAL(65, ${column.decimals}))` };
    case T.TIMESTAMP:
    case T.DATETIME:
      return { text, value: 'CAST(? AS DATETIME(6))' };
    case T.DATE:
    case T.NEWDATE:
      return { text, value: 'CAST(? AS DATE)' };
    case T.TIME:
      return { text, value: 'CAST(? AS TIME(6))' };
    case T.VARCHAR:
    case T.VAR_STRING:
    case T.STRING:
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
      if (flags & (MYSQL_ENUM_FLAG | MYSQL_SET_FLAG))
        throw keyError(
          key,
          `is ${flags & MYSQL_ENUM_FLAG ? 'ENUM' : 'SET'}, which sorts by its list of values but compares as text: ${KEY_TYPES}`,
        );
      if (column.characterSet === MYSQL_BINARY_CHARSET)
        return { text: `HEX(${quoted})`, value: 'UNHEX(?)', written: /^(?:[0-9A-F]{2})*$/ };
      return { text, value: '?' };
  }
  const type = Object.entries(T).find(([, code]) => code === column.columnType)?.[0] ?? `type ${column.columnType}`;
  throw keyError(key, `is ${type}, whose values do not go back to the server exactly: ${KEY_TYPES}`);
}

/** PostgreSQL's bytea: its text is `\x` and hexadecimal, where an earlier version wrote base64. */
const POSTGRES_BYTEA = 17;

/**
 * How a PostgreSQL key (`quoted`) goes to the server and back: as `key::text`, and read back by the
 * key's own type from a parameter of type unknown, which the server types as the key (any type's
 * text reads back as it was written).
 */
export function postgresKeyForm(type: number, quoted: string): KeyForm {
  return { text: `${quoted}::text`, value: '$1', ...(type === POSTGRES_BYTEA ? { written: /^\\x/ } : {}) };
}

/** A time as JSON holds it, from a JavaScript Date: milliseconds, in UTC. */
const ISO_TIME = /^([+-]?\d{4,6}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z$/;

/** A time as the server writes it, down to the millisecond (its further digits left out). */
const toMillisecond = (text: string) =>
  text.replace(
    /(:\d\d:\d\d)(?:\.(\d*))?/,
    (_, seconds: string, fraction = '') => `${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}`,
  );

/**
 * The text a row's ref (and so its event id) gives its key: the key as read, as it always was (a time
 * read into a Date, so to the millisecond), so that a run of an earlier version, repeated or resumed,
 * stores nothing twice. Of keys a microsecond apart in one millisecond, which an earlier version gave
 * one ref (keeping the first row), the first keeps it and each later one adds the server's further
 * digits: `previous` is the server's text of the key before it in key order. A value JSON cannot hold
 * (an invalid date) is the server's text.
 */
export function keyRef(asRead: unknown, text: string, previous?: string): string {
  if (typeof asRead === 'number') return String(asRead);
  if (typeof asRead !== 'string') return text;
  const time = ISO_TIME.exec(asRead);
  const fraction = time && /:\d\d\.(\d{4,})/.exec(text)?.[1]?.replace(/0+$/, '');
  const sameMillisecond = previous !== undefined && toMillisecond(previous) === toMillisecond(text);
  return fraction && fraction.length > 3 && sameMillisecond ? `${time[1]}.${fraction}Z` : asRead;
}

/**
 * The keys of rows read in key order, a page at a time from a checkpoint's. A key that is null, or
 * repeats the one before it, fails the run: the source changed since it was counted, or is a query
 * whose keys the server could not count as it reads them. A page that starts at the key it was to
 * go on after (the server finds the key's value beyond the value read) fails it too, so that a run
 * never reads one page forever.
 */
export class KeySequence {
  /** The last key read: the checkpoint's (a number, from an earlier version), until a row is read. */
  last: string | number | undefined;

  constructor(
    private readonly key: string,
    checkpoint: string | number | undefined,
    form: KeyForm,
  ) {
    if (checkpoint !== undefined && form.written && !form.written.test(String(checkpoint)))
      throw keyError(
        key,
        `cannot go on from ${checkpoint}, a checkpoint an earlier version wrote otherwise: start a new run of the import`,
      );
    this.last = checkpoint;
  }

  /** A page's keys (as the server writes them) in order, checked; `last` is then the page's last. */
  page(keys: readonly (string | null)[]): string[] {
    return keys.map((key, at) => {
      if (key === null)
        throw keyError(
          this.key,
          `is null in a row${this.last === undefined ? '' : ` after key ${this.last}`}: ${KEY_RULE}`,
        );
      if (key === this.last)
        throw keyError(
          this.key,
          at === 0
            ? `gave ${key} again in the rows after ${key}: its values must read back as the server compares them, else a run reads the same rows forever`
            : `holds ${key} in two rows: ${KEY_RULE}`,
        );
      this.last = key;
      return key;
    });
  }
}
