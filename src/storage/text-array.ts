/**
 * A `text[]` parameter as PostgreSQL's array literal, for a statement that casts it (`$1::text[]`).
 * postgres.js escapes every element with two regular expressions; a batch's ids, times and JSON
 * rarely hold a backslash, and most hold no quote, so an element is escaped only where it needs it.
 */
export function textArray(values: readonly (string | null)[]): string {
  return `{${values.map(arrayElement).join(',')}}`;
}

/** One element of an array literal: quoted, its quotes and backslashes escaped; NULL for null. */
export function arrayElement(value: string | null): string {
  if (value === null) return 'NULL';
  return value.indexOf('"') < 0 && value.indexOf('\\') < 0 ? `"${value}"` : `"${value.replace(ESCAPED, '\\$&')}"`;
}

const ESCAPED = /["\\]/g;
