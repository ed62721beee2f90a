import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from './database.js';
import { migrate } from './migrate.js';
import { openPGlite } from './pglite.js';
import { flagInactiveSql } from './sql-heartbeat.js';

/**
 * PGlite keeps no statistics (nothing runs ANALYZE), so a plan that is fine on PostgreSQL can scan a
 * table once per row there: the profile flag probed every session for every profile of a slice.
 */
describe('the heartbeat profile flag on PGlite', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openPGlite({ schema: 'meridian_test' });
    await migrate(db);
    await db.query(
      `INSERT INTO profiles (id, ids) SELECT 'p' || i, CASE WHEN i % 100 = 0 THEN ARRAY['m' || i] ELSE '{}' END FROM generate_series(1, 2000) AS i`,
    );
    await db.query(
      `INSERT INTO sessions (id, profile_id, source_id, last_event_at) SELECT 's' || i, 'p' || (i % 2000 + 1), 'src', now() FROM generate_series(1, 20000) AS i`,
    );
  });
  afterAll(async () => db?.close());

  const planOf = async (sql: string) =>
    (
      await db.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${sql.replace('$1::text[]', `ARRAY['p1', 'p100']`).replace('$2', 'now()')}`,
      )
    )
      .map((row) => row['QUERY PLAN'])
      .join('\n');

  it('probes the sessions of each profile, and of each id merged into it, through sessions_profile', async () => {
    const plan = await planOf(flagInactiveSql(true));
    expect(plan).not.toMatch(/Seq Scan on sessions/);
    expect(plan.match(/Index (Only )?Scan using sessions_profile on sessions/g)).toHaveLength(2);
  });

  it('probes only the own sessions of a profile when the store has no merged profiles', async () => {
    const plan = await planOf(flagInactiveSql(false));
    expect(plan).not.toMatch(/Seq Scan on sessions|unnest/);
    expect(plan.match(/Index (Only )?Scan using sessions_profile on sessions/g)).toHaveLength(1);
  });
});
