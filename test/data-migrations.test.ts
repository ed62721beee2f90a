import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Composition } from '../src/cli/composition.js';
import { loadConfig } from '../src/config/config.js';
import { jobRunFigures, progressOf } from '../src/importing/progress.js';
import type { JobRun } from '../src/shared/job-runs.js';
import { createLogger } from '../src/shared/logger.js';
import type { Database } from '../src/storage/database.js';
import { planDataMigrations, runDataMigrations, type DataMigration } from '../src/storage/data-migrations.js';
import { identityKeysMigration } from '../src/storage/identity-keys-migration.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { claimRunLease, SqlJobRuns } from '../src/storage/sql-job-runs.js';
import { BACKENDS, startTestApi, type Backend, type TestApi } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { eventually } from './support/eventually.js';
import { runMeridian } from './support/processes.js';
import { createTestDatabase, postgresAvailable } from './support/postgres.js';

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

/** A migration that takes at least `ms` a batch, so that its running time is sure to show. */
function taking(ms: number, migration: DataMigration): DataMigration {
  return {
    ...migration,
    async migrate(tx, after, limit) {
      await setTimeout(ms);
      return migration.migrate(tx, after, limit);
    },
  };
}

async function storeRows(db: Database, rows: number): Promise<void> {
  await db.exec(`CREATE TABLE dm_rows (id text PRIMARY KEY, touched int NOT NULL DEFAULT 0);
    INSERT INTO dm_rows (id) SELECT lpad(g::text, 4, '0') FROM generate_series(1, ${rows}) g;`);
}

const touchedRows = (db: Database) =>
  db.query<{ touched: number; n: number }>('SELECT touched, count(*)::int AS n FROM dm_rows GROUP BY touched');

/** Two handles on one migrated store, as two processes have: PGlite's one, twice, or two PostgreSQL pools. */
async function openTwice(backend: Backend): Promise<{ handles: [Database, Database]; dispose(): Promise<void> }> {
  if (backend === 'pglite') {
    const db = await openTestDatabase(backend);
    return { handles: [db, db], dispose: () => db.dispose() };
  }
  const database = await createTestDatabase();
  const handles: [Database, Database] = [
    connectPostgres({ url: database.url, schema: 'meridian_test' }),
    connectPostgres({ url: database.url, schema: 'meridian_test' }),
  ];
  await migrate(handles[0]);
  return {
    handles,
    dispose: async () => {
      for (const handle of handles) await handle.close();
      await database.drop();
    },
  };
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`data migrations on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    let twice: Awaited<ReturnType<typeof openTwice>> | undefined;
    afterEach(async () => {
      await db?.dispose();
      await twice?.dispose();
      db = twice = undefined;
    });

    it('runs in batches with progress, and goes on from its checkpoint after a failure, touching every row once', async () => {
      db = await openTestDatabase(backend.name);
      await storeRows(db, 95);
      const failOnce = { armed: true };
      const migrations = [touching(failOnce)];

      const [planned] = await planDataMigrations(db, migrations, 10);
      expect(planned).toMatchObject({ id: 'data-migration-touch-rows', state: 'queued', total: 95, batches: 10 });
      expect(await planDataMigrations(db, migrations, 10)).toEqual([]);
      // rows stored after the plan are taken by its last batch, ten a transaction
      await db.query(`INSERT INTO dm_rows (id) SELECT lpad(g::text, 4, '0') FROM generate_series(96, 120) g`);

      await expect(runDataMigrations(db, migrations)).rejects.toThrow('killed mid-run');
      const failed = await new SqlJobRuns(db).get(planned!.id);
      expect(failed).toMatchObject({ state: 'failed', batchesDone: 2, done: 20, lastError: 'killed mid-run' });

      const seen: [number, number][] = [];
      await runDataMigrations(db, migrations, { onBatch: (run) => seen.push([run.batchesDone, run.done]) });
      expect(seen).toEqual([
        ...[3, 4, 5, 6, 7, 8, 9].map((batch) => [batch, batch * 10]),
        [9, 100],
        [9, 110],
        [9, 120],
        [10, 120],
      ]);
      expect(await new SqlJobRuns(db).get(planned!.id)).toMatchObject({
        state: 'done',
        done: 120,
        total: 120,
        batchesDone: 10,
      });
      expect(await touchedRows(db)).toEqual([{ touched: 1, n: 120 }]);
    });

    it('tells its rows/s and time left while it runs; done with rows deleted meanwhile, its total is the rows it went through', async () => {
      db = await openTestDatabase(backend.name);
      await storeRows(db, 95);
      const migrations = [taking(5, touching({ armed: false }))];
      const [planned] = await planDataMigrations(db, migrations, 10);
      const stop = new AbortController();
      let running: JobRun | undefined;
      await runDataMigrations(db, migrations, {
        onBatch: (run) => {
          if (run.batchesDone < 3) return;
          running = run;
          stop.abort();
        },
        signal: stop.signal,
      });
      expect(running).toMatchObject({ state: 'running', done: 30, total: 95, leased: true });
      expect(running!.activeMs).toBeGreaterThanOrEqual(15);
      const pace = progressOf(jobRunFigures(running!));
      const seconds = running!.activeMs / 1000;
      expect(pace).toEqual({
        rowsPerSecond: Math.round((30 / seconds) * 10) / 10,
        percent: 31.6,
        etaSeconds: Math.round((65 * seconds) / 30),
      });
      // Stopped, it lets its lease go: its rate stays, no end is foretold.
      const stopped = (await new SqlJobRuns(db).get(planned!.id))!;
      expect(stopped).toMatchObject({ leased: false, activeMs: running!.activeMs });
      expect(progressOf(jobRunFigures(stopped))).toEqual({ ...pace, etaSeconds: null });

      await db.query(`DELETE FROM dm_rows WHERE id BETWEEN '0051' AND '0070'`);
      await runDataMigrations(db, migrations);
      const done = (await new SqlJobRuns(db).get(planned!.id))!;
      expect(done).toMatchObject({ state: 'done', done: 75, total: 75, batchesDone: 10 });
      expect(done.activeMs).toBeGreaterThanOrEqual(50);
      expect(progressOf(jobRunFigures(done))).toMatchObject({ percent: 100, etaSeconds: null });
      expect(await touchedRows(db)).toEqual([{ touched: 1, n: 75 }]);
    });

    it('two runners started at once plan a migration once and run it once: one works through it, the other stands by', async () => {
      twice = await openTwice(backend.name);
      const [first, second] = twice.handles;
      await storeRows(first, 95);
      const migrations = [touching({ armed: false })];

      const planned = await Promise.all([first, second].map((each) => planDataMigrations(each, migrations, 10)));
      expect(planned.flat().map((run) => run.id)).toEqual(['data-migration-touch-rows']);
      const batchesBy = { a: 0, b: 0 };
      await Promise.all([
        runDataMigrations(first, migrations, { owner: 'a', pollMs: 20, onBatch: () => batchesBy.a++ }),
        runDataMigrations(second, migrations, { owner: 'b', pollMs: 20, onBatch: () => batchesBy.b++ }),
      ]);
      expect([batchesBy.a, batchesBy.b].sort((x, y) => x - y)).toEqual([0, 10]);
      expect(await new SqlJobRuns(first).get('data-migration-touch-rows')).toMatchObject({ state: 'done', done: 95 });
      expect(await touchedRows(first)).toEqual([{ touched: 1, n: 95 }]);
    });

    it('a stopped runner lets its run go; one killed holds it until its lease runs out, then another goes on from its last batch', async () => {
      db = await openTestDatabase(backend.name);
      await storeRows(db, 95);
      const migrations = [touching({ armed: false })];
      const [planned] = await planDataMigrations(db, migrations, 10);
      const stop = new AbortController();
      await runDataMigrations(db, migrations, {
        owner: 'stopped',
        onBatch: (run) => run.batchesDone === 3 && stop.abort(),
        signal: stop.signal,
      });
      expect(await new SqlJobRuns(db).get(planned!.id)).toMatchObject({ state: 'running', batchesDone: 3 });

      // A runner killed mid-batch: its batch rolled back, its lease left to run out.
      expect(await claimRunLease(db, planned!.id, 'killed', 500)).toBe(true);
      const waited: number[] = [];
      const seen: number[] = [];
      await runDataMigrations(db, migrations, {
        owner: 'next',
        pollMs: 20,
        onWait: (run) => waited.push(run.batchesDone),
        onBatch: (run) => seen.push(run.batchesDone),
      });
      expect(waited.length).toBeGreaterThan(0);
      expect(new Set(waited)).toEqual(new Set([3]));
      expect(seen).toEqual([4, 5, 6, 7, 8, 9, 10]);
      expect(await touchedRows(db)).toEqual([{ touched: 1, n: 95 }]);
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

    it.skipIf(backend.name !== 'postgres')(
      'identity-keys reads a page from the key before it on, in a plan PostgreSQL caches for any key too',
      async () => {
        db = await openTestDatabase(backend.name);
        await db.exec(`INSERT INTO profiles (id) SELECT 'p' || lpad(g::text, 5, '0') FROM generate_series(1, 20000) g;
                       ANALYZE profiles;`);
        const pages: { text: string; params: readonly unknown[] }[] = [];
        const migration = identityKeysMigration({ keys: ['pii.email'], placeholders: [], maxMergeProfiles: 10 });
        await db.transaction((tx) =>
          migration.migrate(
            {
              query: (text, params = []) => {
                if (text.includes('FROM profiles')) pages.push({ text, params });
                return tx.query(text, params);
              },
              exec: (script) => tx.exec(script),
            },
            'p00010',
            10,
          ),
        );
        expect(pages).toHaveLength(1);
        const { text, params } = pages[0]!;
        const plan = await db.transaction(async (tx) => {
          await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
          await tx.query(`PREPARE page AS ${text}`);
          const literals = params.map((value) => (typeof value === 'number' ? String(value) : `'${String(value)}'`));
          const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (FORMAT JSON) EXECUTE page(${literals.join(', ')})`,
          );
          await tx.query('DEALLOCATE page');
          return JSON.stringify(row!['QUERY PLAN']);
        });
        // The key bounds the index scan: a filter would walk the index from the first profile.
        expect(plan).toMatch(/"Index Cond":"\(id > /);
      },
    );
  });
}

const postgresUp = await postgresAvailable();
const RUN = 'data-migration-identity-keys';

/** Profiles (2,500 by default) stored before identity keys: none claimed its email. */
const storeProfiles = (db: Database, count = 2500) =>
  db.query(
    `INSERT INTO profiles (id, pii) SELECT 'p' || lpad(g::text, 5, '0'), jsonb_build_object('email', 'u' || g || '@example.com')
       FROM generate_series(1, $1::int) g`,
    [count],
  );

describe('data migrations in started processes', () => {
  let apis: TestApi[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    for (const api of apis) await api.close();
    apis = [];
    await cleanup?.();
    cleanup = undefined;
  });

  /** A scratch PostgreSQL store, migrated, with `count` profiles that never claimed their emails; closed and dropped after the test. */
  async function profilesOnPostgres(count?: number) {
    const database = await createTestDatabase();
    const db = connectPostgres({ url: database.url, schema: 'meridian_test' });
    cleanup = async () => {
      await db.close();
      await database.drop();
    };
    await migrate(db);
    await storeProfiles(db, count);
    return { db, env: { DATABASE_URL: database.url, LOG_LEVEL: 'info' } };
  }

  /** `meridian migrate --plan-only` over a store of 2,500 profiles that never claimed their emails. */
  async function planOnly(env: Record<string, string>): Promise<void> {
    const root = await Composition.open(loadConfig({ ...env, LOG_LEVEL: 'silent' }), createLogger('silent'));
    try {
      await storeProfiles(root.db);
      await root.migrateData({ planOnly: true });
      expect(await root.repositories.jobRuns.get(RUN)).toMatchObject({
        state: 'queued',
        total: 2500,
        batches: 3,
      });
    } finally {
      await root.close();
    }
  }

  async function expectMigratedOnce(api: TestApi): Promise<void> {
    const job = await eventually(
      async () => (await api.admin({ method: 'GET', url: `/jobs/${RUN}` })).json(),
      (run: { state: string }) => run.state === 'done',
    );
    expect(job).toMatchObject({
      state: 'done',
      total: 2500,
      done: 2500,
      batchesDone: 3,
      batches: 3,
      rowsPerSecond: expect.any(Number),
      percent: 100,
      etaSeconds: null,
    });
    const runs = (await api.admin({ method: 'GET', url: '/jobs?kind=data-migration' })).json();
    expect(runs).toEqual([job]);
    const [keys] = await api.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM identity_keys');
    expect(keys!.n).toBe(2500);
  }

  it('an API started on the embedded store runs the run planned with --plan-only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meridian-data-migration-'));
    cleanup = () => rm(dir, { recursive: true, force: true });
    await planOnly({ DATA_DIR: dir });
    apis.push(await startTestApi('pglite', { DATA_DIR: dir }));
    await expectMigratedOnce(apis[0]!);

    type Schema = { anyOf?: Schema[]; items?: Schema; properties?: Record<string, unknown>; required?: string[] };
    const { paths } = (await apis[0]!.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, { get: { responses: { 200: { content: { 'application/json': { schema: Schema } } } } } }>;
    };
    const jobRunOf = (schema: Schema) => schema.anyOf!.find((each) => each.properties?.['batchesDone'])!;
    for (const jobRun of [
      jobRunOf(paths['/jobs/{id}']!.get.responses[200].content['application/json'].schema),
      jobRunOf(paths['/jobs']!.get.responses[200].content['application/json'].schema.items!),
    ])
      expect(jobRun.required).toEqual(expect.arrayContaining(['rowsPerSecond', 'percent', 'etaSeconds']));
  });

  it.skipIf(!postgresUp)(
    'a worker process runs the run `meridian migrate --plan-only` planned, and stops when told to',
    async () => {
      const { db, env } = await profilesOnPostgres();
      const planning = runMeridian(['migrate', '--plan-only'], env);
      expect(await planning.exited).toBe(0);
      expect(planning.output()).toContain('data migration planned');
      expect(await new SqlJobRuns(db).get(RUN)).toMatchObject({ state: 'queued', batches: 3 });

      const worker = runMeridian(['worker', 'scheduler'], env);
      const job = await eventually(
        async () => new SqlJobRuns(db).get(RUN),
        (run) => run?.state === 'done',
        60_000,
      );
      expect(job).toMatchObject({ state: 'done', done: 2500, batchesDone: 3 });
      expect(await worker.stop()).toBe(0);
    },
  );

  it.skipIf(!postgresUp)(
    '`meridian migrate` stopped by Ctrl-C lets its run go at once, and the next one goes on from its last batch',
    async () => {
      const { db, env } = await profilesOnPostgres(40_000);
      const first = runMeridian(['migrate'], env);
      await eventually(
        async () => first.output(),
        (output) => output.includes('"batches":"10/40"'),
        60_000,
      );
      expect(first.output()).toMatch(/"batches":"10\/40","rowsPerSecond":[\d.]+,"etaSeconds":\d+/);
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(1);
      expect(first.output()).toContain('data migrations stopped before they were done');
      const stopped = await new SqlJobRuns(db).get(RUN);
      expect(stopped!.batchesDone).toBeLessThan(40);
      // Let go: another runner takes it now, not once a lease of 30 s has run out.
      expect(await claimRunLease(db, RUN, 'next', 1)).toBe(true);

      const second = runMeridian(['migrate'], env);
      expect(await second.exited).toBe(0);
      expect(await new SqlJobRuns(db).get(RUN)).toMatchObject({ state: 'done', done: 40_000, batchesDone: 40 });
      const [keys] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM identity_keys');
      expect(keys!.n).toBe(40_000);
    },
  );

  it.skipIf(!postgresUp)(
    'two API processes started at once on PostgreSQL run the run planned with --plan-only, once',
    async () => {
      const database = await createTestDatabase();
      cleanup = () => database.drop();
      await planOnly({ DATABASE_URL: database.url });
      apis = await Promise.all([0, 1].map(() => startTestApi('postgres', { DATABASE_URL: database.url })));
      await expectMigratedOnce(apis[1]!);
    },
  );
});
