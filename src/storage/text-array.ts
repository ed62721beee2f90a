/**
 * A `text[]` parameter as PostgreSQL's array literal, for a statement that casts it (`$1::text[]`).
 * postgres.js escapes every element with two regular expressions; a batch's ids, times and JSON
 * rarely hold a quote or a backslash, so an element is escaped only where it holds one.
 */
export function textArray(values: readonly (string | null)[]): string {
  let literal = '{';
  for (let at = 0; at < values.length; at++) {
    const value = values[at]!;
    if (at > 0) literal += ',';
    literal += value === null ? 'NULL' : `"${NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, '\\$&') : value}"`;
  }
  return `${literal}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;
