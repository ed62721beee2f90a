import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../src/importing/secrets.js';
import { copiedColumns, DEPLOYED_TABLES, type DeployReport } from '../src/deploy/plan.js';
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
      expect(dry.summary).toEqual({ create: 7, change: 1, unchanged: 1, kept: 1, conflict: 0 });
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
      expect(again.summary).toEqual({ create: 0, change: 0, unchanged: 9, kept: 1, conflict: 0 });
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
      expect(refused.json().message).toMatch(
        /meridian_prod is at migration none .*: run `PRODUCTION=yes meridian migrate` first/,
      );

      const store = api.runtime.root.db;
      await migrate({ ...store, schema: PROD });
      const dry = await api.admin({ method: 'POST', url: '/deploy', payload: { dryRun: true } });
      expect(dry.statusCode).toBe(200);
      expect(dry.json()).toMatchObject({ dryRun: true, jobId: null, summary: { create: 1, change: 0 } });
      expect(dry.json().items.filter((item: { action: string }) => item.action !== 'unchanged')).toEqual([
        { table: 'event_sources', id: api.sourceId, name: 'test source', action: 'create' },
      ]);

      // a bare POST, no body at all, is a deploy
      const done = await api.admin({ method: 'POST', url: '/deploy' });
      expect(done.statusCode).toBe(200);
      expect(done.json()).toMatchObject({ dryRun: false, summary: { create: 1 } });
      const job = await api.admin({ method: 'GET', url: `/jobs/${done.json().jobId}` });
      expect(job.json()).toMatchObject({ kind: 'deploy', state: 'done', total: 1, done: 1 });
      const listed = await api.admin({ method: 'GET', url: '/jobs?kind=deploy' });
      expect(listed.json()).toEqual([job.json()]);
      const badLimit = await api.admin({ method: 'GET', url: '/jobs?limit=0' });
      expect(badLimit.statusCode).toBe(400);
      expect(badLimit.json()).toMatchObject({ error: 'validation_failed', details: [{ field: 'limit' }] });
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

    it('publishes POST /deploy without a required body and with its 409, and GET /jobs with its 400', async () => {
      api = await startTestApi(backend.name);
      interface Operation {
        summary: string;
        requestBody?: { required?: boolean };
        responses: Record<string, { description: string; content: Record<string, { schema: unknown }> }>;
      }
      const { paths } = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
        paths: Record<string, Record<string, Operation>>;
      };
      const deploy = paths['/deploy']!['post']!;
      expect(deploy.requestBody?.required).toBe(false);
      expect(deploy).not.toHaveProperty('x-optional-body');
      expect(paths['/mappings/{id}/backfill']!['post']!.requestBody?.required).toBe(false);
      expect(deploy.responses['409']!.description).toMatch(/nothing written.*TABLE\.COLUMNS/);
      expect(deploy.responses['409']!.content['application/json']!.schema).toMatchObject({
        required: ['error', 'message', 'detail', 'details'],
      });
      expect(paths['/jobs']!['get']!.responses['400']).toBeDefined();
      expect(paths['/jobs/{id}']!['get']!.summary).toMatch(/backfill, an import run, a deploy or a data migration/);
    });

    it('refuses with 409 a deploy whose row would take a unique value production keeps, naming both rows; the dry run lists it', async () => {
      api = await startTestApi(backend.name);
      const store = api.runtime.root.db;
      await migrate({ ...store, schema: PROD });
      await store.exec(`
        INSERT INTO ${TEST}.segments (id, name, machine_name, condition) VALUES ('vip', 'VIP', 'vip', 'true');
        INSERT INTO ${TEST}.flows (id, name, type, graph) VALUES ('f1', 'welcome', 'collection', '{}');
        INSERT INTO ${PROD}.segments (id, name, machine_name, condition) VALUES ('prod-vip', 'VIP', 'vip', 'true');
      `);
      const dry = await api.admin({ method: 'POST', url: '/deploy', payload: { dryRun: true } });
      expect(dry.statusCode).toBe(200);
      expect(dry.json().summary).toMatchObject({ conflict: 1, kept: 1 });
      expect(dry.json().items).toContainEqual({
        table: 'segments',
        id: 'vip',
        name: 'VIP',
        action: 'conflict',
        fields: ['machine_name'],
        conflictsWith: { id: 'prod-vip', name: 'VIP' },
      });

      const refused = await api.admin({ method: 'POST', url: '/deploy', payload: {} });
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({
        error: 'conflict',
        details: [
          { field: 'segments.machine_name', message: expect.stringMatching(/"vip" \(VIP\).*"prod-vip" \(VIP\)/) },
        ],
      });
      // nothing written, not even the run
      expect(await count(store, 'flows')).toBe(0);
      expect(await count(store, 'segments')).toBe(1);
      expect((await api.admin({ method: 'GET', url: '/jobs?kind=deploy' })).json()).toEqual([]);
    });

    it('copies segments that trade machine names, checking the names once all are written', async () => {
      const store = await twoContexts();
      await store.exec(`
        INSERT INTO ${TEST}.segments (id, name, machine_name, condition)
          VALUES ('a', 'VIP', 'vip', 'true'), ('b', 'Gold', 'gold', 'true');
        INSERT INTO ${PROD}.segments (id, name, machine_name, condition)
          VALUES ('a', 'Gold', 'gold', 'true'), ('b', 'VIP', 'vip', 'true');
      `);
      const done = await new SqlDeploy(store, { from: TEST, to: PROD }).deploy({ dryRun: false });
      expect(done.summary).toMatchObject({ change: 2, conflict: 0 });
      expect(await store.query(`SELECT id, machine_name FROM ${PROD}.segments ORDER BY id`)).toEqual([
        { id: 'a', machine_name: 'vip' },
        { id: 'b', machine_name: 'gold' },
      ]);
      // outside a deploy the names are still checked statement by statement
      await expect(
        store.query(`UPDATE ${PROD}.segments SET machine_name = 'vip' WHERE id = 'b'`),
      ).rejects.toMatchObject({ code: '23505' });
    });

    it("answers a unique violation the plan could not foresee with a 409 carrying PostgreSQL's detail, writing nothing", async () => {
      const store = await twoContexts();
      await store.exec(`
        INSERT INTO ${TEST}.redirects (id, name, url, event_type, source_id) VALUES ('r1', 'one', 'https://a', 'click', 'scheduler');
        INSERT INTO ${TEST}.redirects (id, name, url, event_type, source_id) VALUES ('r2', 'ONE', 'https://b', 'click', 'scheduler');
        INSERT INTO ${TEST}.flows (id, name, type, graph) VALUES ('f1', 'welcome', 'collection', '{}');
        CREATE UNIQUE INDEX redirects_name_ci ON ${PROD}.redirects (lower(name));
      `);
      const deploy = new SqlDeploy(store, { from: TEST, to: PROD });
      // an expression index, which the plan cannot evaluate: refused as the row is written
      await expect(deploy.deploy({ dryRun: false })).rejects.toMatchObject({
        code: 'conflict',
        details: [{ field: PROD, message: expect.stringContaining('(lower(name))=(one) already exists') }],
      });
      // two copied rows that collide only in production, under a constraint checked at the commit
      await store.exec(`
        DROP INDEX ${PROD}.redirects_name_ci;
        UPDATE ${TEST}.redirects SET url = 'https://a';
        ALTER TABLE ${PROD}.redirects ADD CONSTRAINT redirects_url_key UNIQUE (url) DEFERRABLE INITIALLY IMMEDIATE;
      `);
      await expect(deploy.deploy({ dryRun: false })).rejects.toMatchObject({
        code: 'conflict',
        details: [{ field: PROD, message: expect.stringContaining('(url)=(https://a) already exists') }],
      });
      expect(await count(store, 'flows')).toBe(0);
      expect(await count(store, 'job_runs')).toBe(0);
    });

    it('refuses with 409 naming the import and the context when a credential does not open or seal with its key', async () => {
      const store = await twoContexts();
      const envKey = SecretBox.generateKey();
      await seedTestContext(store, SecretBox.generateKey());
      const refusal = (schema: string, action: string) => ({
        code: 'conflict',
        message: expect.stringMatching(/both contexts must share IMPORT_SECRET_KEY, or both leave it unset/),
        details: [
          {
            field: `${schema}.imports.secret`,
            message: expect.stringContaining(`the credentials of import "orders" in ${schema} cannot be ${action}`),
          },
        ],
      });
      // the test context's credentials are under the key in its settings; this process has IMPORT_SECRET_KEY
      const withEnvKey = new SqlDeploy(store, { from: TEST, to: PROD, secretKey: envKey });
      await expect(withEnvKey.deploy({ dryRun: true })).rejects.toMatchObject(refusal(TEST, 'opened'));
      // the other way round: sealed under IMPORT_SECRET_KEY, deployed by a process without it
      await store.exec(`DELETE FROM ${TEST}.settings WHERE key = 'import_secret_key'`);
      await store.query(`UPDATE ${TEST}.imports SET secret = $1`, [new SecretBox(envKey).seal('s3cret')]);
      const withoutKey = new SqlDeploy(store, { from: TEST, to: PROD });
      await expect(withoutKey.deploy({ dryRun: false })).rejects.toMatchObject(refusal(TEST, 'opened'));
      // production's key cannot seal
      await store.query(`INSERT INTO ${PROD}.settings (key, value) VALUES ('import_secret_key', '"not a key"')`);
      await store.query(`INSERT INTO ${TEST}.settings (key, value) VALUES ('import_secret_key', $1::text::jsonb)`, [
        JSON.stringify(envKey),
      ]);
      await expect(withoutKey.deploy({ dryRun: false })).rejects.toMatchObject(refusal(PROD, 'sealed'));
      expect(await count(store, 'imports')).toBe(0);
    });

    it('can check every unique value of a copied table at the commit, on columns a deploy copies', async () => {
      const store = await twoContexts();
      const tables = DEPLOYED_TABLES.map((spec) => spec.table);
      // unique indexes other than primary keys: each must back a deferrable constraint
      const unique = await store.query<{ table: string; index: string; deferrable: boolean | null; columns: string[] }>(
        `SELECT t.relname AS table, x.relname AS index, c.condeferrable AS deferrable,
                array(SELECT a.attname::text FROM pg_attribute a
                       WHERE a.attrelid = t.oid AND a.attnum = ANY (i.indkey::int2[])) AS columns
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_class x ON x.oid = i.indexrelid
           LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype = 'u'
          WHERE t.relnamespace = $1::regnamespace AND t.relname = ANY ($2) AND i.indisunique AND NOT i.indisprimary`,
        [PROD, tables],
      );
      expect(unique.map((index) => index.table)).toContain('segments');
      for (const index of unique) {
        const spec = DEPLOYED_TABLES.find((each) => each.table === index.table)!;
        expect({ index: index.index, deferrable: index.deferrable }).toEqual({ index: index.index, deferrable: true });
        expect(copiedColumns(spec, index.columns)).toEqual(index.columns);
      }
    });

    it('refuses while production is not migrated as far as the test context, saying how to migrate it', async () => {
      const store = await twoContexts();
      const latest = `(SELECT max(version) FROM ${PROD}.schema_migrations)`;
      await store.query(`DELETE FROM ${PROD}.schema_migrations WHERE version = ${latest}`);
      const deploy = new SqlDeploy(store, { from: TEST, to: PROD });
      const embedded = backend.name === 'pglite' ? /; .* stop `meridian start` first/ : /first$/;
      const refusal = await deploy.deploy({ dryRun: true }).catch((error: Error) => error);
      expect(refusal).toMatchObject({ code: 'conflict' });
      expect((refusal as Error).message).toMatch(/: run `PRODUCTION=yes meridian migrate` first/);
      expect((refusal as Error).message).toMatch(embedded);
      // the test context behind instead
      await store.exec(`
        INSERT INTO ${PROD}.schema_migrations (version, name) SELECT version, name FROM ${TEST}.schema_migrations
          WHERE version > ${latest};
        DELETE FROM ${TEST}.schema_migrations WHERE version = ${latest};
      `);
      await expect(deploy.deploy({ dryRun: false })).rejects.toThrow(/: run `PRODUCTION=no meridian migrate` first/);
    });
  });
}

const postgres = BACKENDS.find((backend) => backend.name === 'postgres')!;
describe.skipIf(!(await postgres.available()))('deploys side by side on PostgreSQL', () => {
  let db: (Database & { dispose(): Promise<void> }) | undefined;
  afterEach(async () => {
    await db?.dispose();
    db = undefined;
  });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const segment = (id: string) => `INSERT INTO ${TEST}.segments (id, name, machine_name, condition)
    VALUES ('${id}', '${id}', '${id}', 'true')`;

  it('runs one deploy at a time: the one that waited plans from what the other committed', async () => {
    db = await openTestDatabase('postgres', TEST);
    await migrate({ ...db, schema: PROD });
    const store = db;
    let deploying: Promise<DeployReport> | undefined;
    let settled = false;
    // another deploy holds the lock while it writes a segment
    await store.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('meridian:deploy'))`);
      deploying = new SqlDeploy(store, { from: TEST, to: PROD })
        .deploy({ dryRun: true })
        .finally(() => (settled = true));
      await pause(300);
      expect(settled).toBe(false);
      await tx.query(segment('late'));
    });
    expect((await deploying!).items).toContainEqual({ table: 'segments', id: 'late', name: 'late', action: 'create' });
  });

  it('reads the test context in one snapshot: a rule and its flow saved meanwhile come both or neither', async () => {
    db = await openTestDatabase('postgres', TEST);
    await migrate({ ...db, schema: PROD });
    const store = db;
    let deploying: Promise<DeployReport> | undefined;
    await store.transaction(async (tx) => {
      // the deploy waits on the rules, after it has read the flows if it reads table by table
      await tx.query(`LOCK TABLE ${TEST}.rules IN ACCESS EXCLUSIVE MODE`);
      deploying = new SqlDeploy(store, { from: TEST, to: PROD }).deploy({ dryRun: false });
      await pause(300);
      await tx.exec(`
        INSERT INTO ${TEST}.flows (id, name, type, graph) VALUES ('f2', 'late', 'collection', '{}');
        INSERT INTO ${TEST}.rules (id, name, kind, event_type, flow_id) VALUES ('r2', 'late', 'event', 'x', 'f2');
      `);
    });
    await deploying;
    const copied = await store.query(
      `SELECT (SELECT count(*)::int FROM ${PROD}.flows) AS flows, (SELECT count(*)::int FROM ${PROD}.rules) AS rules`,
    );
    expect([[{ flows: 0, rules: 0 }], [{ flows: 1, rules: 1 }]]).toContainEqual(copied);
  });
});
