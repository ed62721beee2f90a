import { WRITABLE_PROFILE_PARTS } from '../mapping/mapping.js';

/** A database row as the drivers return it. */
export type Row = Record<string, unknown>;

/** A timestamptz column as the API shows it: ISO-8601 text, or null. */
export const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);

/** A profile document's writable parts as the profile row's columns: each an object, `{}` when absent. */
export const writableProfileColumns = (document: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(WRITABLE_PROFILE_PARTS.map((part) => [part, document[part] ?? {}]));
