import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../src/importing/secrets.js';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { SqlDeploy } from '../src/storage/sql-deploy.js';
import { SqlJobRuns } from '../src/storage/sql-job-runs.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { eventually } from './support/eventually.js';

const TEST = 'meridian_test';
const PROD = 'meridian_prod';

/** The test context's configuration: one row of every deployed table, an import with a password. */
async function seedTestContext(db: Database, key: string): Promise<SecretBox> {
  const box = new SecretBox(key);
  await db.query(`INSERT INTO settings (key, value) VALUES ('import_secret_key', $1::text::jsonb)`, [
    JSON.stringify(key),
  ]);
  await db.exec(`
    INSERT INTO event_sources (id, name, type) VALUES ('web', 'Web site', 'rest');
    INSERT INTO segments (id, name, machine_name, condition, event_types)
      VALUES ('vip', 'VIP', 'vip', 'traits.total > 100', '{purchase}');
    INSERT INTO mappings (id, name, kind, event_type, mapping)
      VALUES ('m1', 'price', 'event-props-to-traits', 'purchase', '{"properties.price": "traits.price"}');
    INSERT INTO flows (id, name, type, graph) VALUES ('f1', 'welcome', 'collection', '{"nodes": [], "edges": []}');
    INSERT INTO rules (id, name, kind, event_type, flow_id) VALUES ('r1', 'on signup', 'event', 'signup', 'f1');
    INSERT INTO identification_points (id, name, event_type, fields)
      VALUES ('ip1', 'by email', 'signup', '[{"event": "properties.email", "profile": "pii.email"}]');
    INSERT INTO redirects (id, name, url, event_type, source_id) VALUES ('go', 'campaign', 'https://example.com', 'click', 'web');
  `);
  await db.query(
    `INSERT INTO imports (id, name, source, secret, event_source_id, event_type)
     VALUES ('orders', 'orders', '{"kind": "mysql", "table": "orders"}', $1, 'web', 'purchase')`,
    [box.seal('s3cret')],
  );
  return box;
}

const count = async (db: Database, table: string) =>
  Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${PROD}.${table}`))[0]!.n);

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`deploy on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    let api: TestApi | undefined;
    afterEach(async () => {
      await db?.dispose();
      await api?.close();
      db = api = undefined;
    });

    async function twoContexts(): Promise<Database> {
      db = await openTestDatabase(backend.name, TEST);
      await migrate({ ...db, schema: PROD });
      return db;
    }

    it('lists on a dry run what it would do, then copies the configuration to production as a recorded job', async () => {
      const store = await twoContexts();
      const testKey = SecretBox.generateKey();
      const testBox = await seedTestContext(store, testKey);
      // production already has the source under an older name, and a redirect of its own
      await store.exec(`
        INSERT INTO ${PROD}.event_sources (id, name, type) VALUES ('web', 'Old name', 'rest');
        INSERT INTO ${PROD}.redirects (id, name, url, event_type, source_id)
          VALUES ('prod-only', 'kept', 'https://example.org', 'click', 'web');
      `);
      const deploy = new SqlDeploy(store, { from: TEST, to: PROD });

      const dry = await deploy.deploy({ dryRun: true });
      expect(dry.jobId).toBeNull();
      // `unchanged`: the built-in `scheduler` event source both contexts get from their migrations.
      expect(dry.summary).toEqual({ create: 7, change: 1, unchanged: 1, kept: 1 });
      expect(dry.items).toContainEqual({
        table: 'event_sources',
        id: 'web',
        name: 'Web site',
        action: 'change',
        fields: ['name'],
      });
      expect(dry.items).toContainEqual({ table: 'redirects', id: 'prod-only', name: 'kept', action: 'kept' });
      expect(await count(store, 'flows')).toBe(0);

      const done = await deploy.deploy({ dryRun: false });
      expect(done.summary).toEqual(dry.summary);
      const job = await new SqlJobRuns(store).get(done.jobId!);
      expect(job).toMatchObject({ kind: 'deploy', state: 'done', total: 8, done: 8, batches: 1, batchesDone: 1 });

      const [source] = await store.query(`SELECT name FROM ${PROD}.event_sources WHERE id = 'web'`);
      expect(source).toEqual({ name: 'Web site' });
      const [rule] = await store.query(`SELECT flow_id, event_type FROM ${PROD}.rules`);
      expect(rule).toEqual({ flow_id: 'f1', event_type: 'signup' });
      const [segment] = await store.query<{ event_types: string[]; resegment_requested: string }>(
        `SELECT event_types, resegment_requested FROM ${PROD}.segments WHERE id = 'vip'`,
      );
      expect(segment!.event_types).toEqual(['purchase']);
      expect(Number(segment!.resegment_requested)).toBe(1);
      expect(await count(store, 'redirects')).toBe(2);

      // production seals the password under its own key: the test context's sealed text would not open there
      const [prodKey] = await store.query<{ value: string }>(
        `SELECT value FROM ${PROD}.settings WHERE key = 'import_secret_key'`,
      );
      expect(prodKey!.value).not.toBe(testKey);
      const [imported] = await store.query<{ secret: string }>(
        `SELECT secret FROM ${PROD}.imports WHERE id = 'orders'`,
      );
      expect(new SecretBox(prodKey!.value).open(imported!.secret)).toBe('s3cret');

      // a second deploy finds production up to date, passwords included, and writes nothing
      const again = await deploy.deploy({ dryRun: false });
      expect(again.summary).toEqual({ create: 0, change: 0, unchanged: 9, kept: 1 });
      expect(await new SqlJobRuns(store).get(again.jobId!)).toMatchObject({ state: 'done', total: 0, batches: 0 });

      await store.query(`UPDATE ${TEST}.imports SET secret = $1`, [testBox.seal('hunter2')]);
      const changed = await deploy.deploy({ dryRun: true });
      expect(changed.items.filter((item) => item.action === 'change')).toEqual([
        { table: 'imports', id: 'orders', name: 'orders', action: 'change', fields: ['secret'] },
      ]);
      expect(JSON.stringify(changed)).not.toContain('hunter2');
    });

    it('deploys through POST /deploy and reports the job in GET /jobs/{id}', async () => {
      api = await startTestApi(backend.name);
      const refused = await api.admin({ method: 'POST', url: '/deploy', payload: { dryRun: true } });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().message).toMatch(/meridian migrate/);

      const store = api.runtime.root.db;
      await migrate({ ...store, schema: PROD });
      const dry = await api.admin({ method: 'POST', url: '/deploy', payload: { dryRun: true } });
      expect(dry.statusCode).toBe(200);
      expect(dry.json()).toMatchObject({ dryRun: true, jobId: null, summary: { create: 1, change: 0 } });
      expect(dry.json().items.filter((item: { action: string }) => item.action !== 'unchanged')).toEqual([
        { table: 'event_sources', id: api.sourceId, name: 'test source', action: 'create' },
      ]);

      const done = await api.admin({ method: 'POST', url: '/deploy', payload: {} });
      expect(done.json()).toMatchObject({ dryRun: false, summary: { create: 1 } });
      const job = await api.admin({ method: 'GET', url: `/jobs/${done.json().jobId}` });
      expect(job.json()).toMatchObject({ kind: 'deploy', state: 'done', done: 1 });
      const listed = await api.admin({ method: 'GET', url: '/jobs?kind=deploy' });
      expect(listed.json()).toEqual([job.json()]);
      // A started API plans the data migrations: on a store with no profile, done at once.
      const migrations = await eventually(
        async () => (await api!.admin({ method: 'GET', url: '/jobs?kind=data-migration&limit=5' })).json(),
        (runs: unknown[]) => runs.length > 0,
      );
      expect(migrations).toEqual([
        expect.objectContaining({
          id: 'data-migration-identity-keys',
          kind: 'data-migration',
          state: 'done',
          total: 0,
        }),
      ]);
      // the test source, and the built-in `scheduler` source production's migrations made
      expect(await count(store, 'event_sources')).toBe(2);
    });

    it('refuses while production is not migrated as far as the test context', async () => {
      const store = await twoContexts();
      await store.query(
        `DELETE FROM ${PROD}.schema_migrations WHERE version = (SELECT max(version) FROM ${PROD}.schema_migrations)`,
      );
      await expect(new SqlDeploy(store, { from: TEST, to: PROD }).deploy({ dryRun: true })).rejects.toThrow(
        /meridian migrate/,
      );
    });
  });
}
