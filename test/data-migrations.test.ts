import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { planDataMigrations, runDataMigrations, type DataMigration } from '../src/storage/data-migrations.js';
import { identityKeysMigration } from '../src/storage/identity-keys-migration.js';
import { SqlJobRuns } from '../src/storage/sql-job-runs.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

/** A migration over a table of its own that fails once, in its third batch, the first time through. */
function touching(failOnce: { armed: boolean }): DataMigration {
  let batches = 0;
  return {
    name: 'touch-rows',
    count: async (tx) => Number((await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM dm_rows'))[0]!.n),
    async migrate(tx, after, limit) {
      const rows = await tx.query<{ id: string }>(
        `UPDATE dm_rows SET touched = touched + 1 WHERE id IN
           (SELECT id FROM dm_rows WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2) RETURNING id`,
        [after, limit],
      );
      if (++batches === 3 && failOnce.armed) {
        failOnce.armed = false;
        throw new Error('killed mid-run');
      }
      const last =
        rows
          .map((row) => row.id)
          .sort()
          .at(-1) ?? null;
      return { last, items: rows.length, errors: 0 };
    },
  };
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`data migrations on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    afterEach(async () => {
      await db?.dispose();
      db = undefined;
    });

    it('runs in batches with progress, and goes on from its checkpoint after a failure, touching every row once', async () => {
      db = await openTestDatabase(backend.name);
      await db.exec(`CREATE TABLE dm_rows (id text PRIMARY KEY, touched int NOT NULL DEFAULT 0);
        INSERT INTO dm_rows (id) SELECT lpad(g::text, 4, '0') FROM generate_series(1, 95) g;`);
      const failOnce = { armed: true };
      const migrations = [touching(failOnce)];

      const [planned] = await planDataMigrations(db, migrations, 10);
      expect(planned).toMatchObject({ id: 'data-migration-touch-rows', state: 'queued', total: 95, batches: 10 });
      expect(await planDataMigrations(db, migrations, 10)).toEqual([]);
      // rows stored after the plan are taken by its last batch
      await db.query(`INSERT INTO dm_rows (id) VALUES ('0096'), ('0097')`);

      await expect(runDataMigrations(db, migrations)).rejects.toThrow('killed mid-run');
      const failed = await new SqlJobRuns(db).get(planned!.id);
      expect(failed).toMatchObject({ state: 'failed', batchesDone: 2, done: 20, lastError: 'killed mid-run' });

      const seen: number[] = [];
      await runDataMigrations(db, migrations, (run) => seen.push(run.batchesDone));
      expect(seen).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await new SqlJobRuns(db).get(planned!.id)).toMatchObject({ state: 'done', done: 97, batchesDone: 10 });
      const touched = await db.query<{ touched: number; n: number }>(
        'SELECT touched, count(*)::int AS n FROM dm_rows GROUP BY touched',
      );
      expect(touched).toEqual([{ touched: 1, n: 97 }]);
    });

    it('identity-keys claims the keys of profiles that hold values but never claimed them, first profile first', async () => {
      db = await openTestDatabase(backend.name);
      await db.exec(`INSERT INTO profiles (id, pii) VALUES
        ('a', '{"email": " Ann@Example.com "}'), ('b', '{"email": "ann@example.com"}'),
        ('c', '{"email": "carl@example.com"}'), ('d', '{}');`);
      const migrations = [identityKeysMigration({ keys: ['pii.email'], placeholders: [], maxMergeProfiles: 10 })];
      await planDataMigrations(db, migrations, 2);
      await runDataMigrations(db, migrations);
      const keys = await db.query('SELECT key, value, profile_id FROM identity_keys ORDER BY value');
      expect(keys).toEqual([
        { key: 'pii.email', value: 'ann@example.com', profile_id: 'a' },
        { key: 'pii.email', value: 'carl@example.com', profile_id: 'c' },
      ]);
      expect(await new SqlJobRuns(db).get('data-migration-identity-keys')).toMatchObject({ state: 'done', done: 4 });
    });
  });
}
