import type { SqlExecutor } from './database.js';

/** Rows removed per statement of a purge. */
export const PURGE_SLICE = 5_000;

/**
 * Deletes the rows of `table` that `condition` picks (`$1` is `before`), by their `key`, a slice per
 * statement and each statement its own transaction: a purge of a large history holds no lock for long,
 * and on the embedded store it does not keep /track waiting for its one connection.
 */
export async function purgeInSlices(
  db: SqlExecutor,
  { table, key, condition }: { table: string; key: string; condition: string },
  before: Date,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const [row] = await db.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${condition} LIMIT $2)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [before, PURGE_SLICE],
    );
    removed += row!.n;
    if (row!.n < PURGE_SLICE) return removed;
  }
}
