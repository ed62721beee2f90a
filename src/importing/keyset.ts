/**
 * The key of a database source, which orders its rows, keys each one (its event id derives from it)
 * and is the checkpoint a run goes on from: it must be unique and never null, and a page of rows
 * must go on past the last key read. Pure: the readers (sources.ts) ask the server, these judge.
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

/**
 * The column the rows name the key by: the one named so, else the one named so but for case (MySQL
 * and MariaDB ignore it, so `ID` finds `id` there, while a row holds `id` only). A key the rows do
 * not hold would read as missing in every row.
 */
export function resolveKey(key: string, columns: readonly string[]): string {
  if (columns.includes(key)) return key;
  const matches = columns.filter((column) => column.toLowerCase() === key.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  throw keyError(key, `is not among the columns of the rows: ${columns.join(', ')}`);
}

/**
 * The keys of rows read in key order, a page at a time from a checkpoint's. A key that is null, or
 * repeats the one before it, fails the run: the source changed since it was counted, or is a query
 * whose keys the server could not count as it reads them. A page that starts at the key it was to
 * go on after (the server finds the key's value beyond the value read) fails it too, so that a run
 * never reads one page forever.
 */
export class KeySequence {
  constructor(
    private readonly key: string,
    /** The last key read: the checkpoint's, until a row is read. */
    public last: string | number | undefined,
  ) {}

  /** A page's keys in order, checked; `last` is then the page's last. */
  page<K extends string | number>(keys: readonly (K | null)[]): K[] {
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
