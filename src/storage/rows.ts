/** A database row as the drivers return it. */
export type Row = Record<string, unknown>;

/** A timestamptz column as the API shows it: ISO-8601 text, or null. */
export const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);
