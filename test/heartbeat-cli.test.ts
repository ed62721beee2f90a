import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { openPGlite } from '../src/storage/pglite.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { freePort, runMeridian, waitForHealthy } from './support/processes.js';

/** `meridian job heartbeat` as cron runs it: the compiled CLI (`npm run build` first). */
async function job(env: Record<string, string>, args: string[] = []) {
  const process = runMeridian(['job', 'heartbeat', ...args], env);
  const code = await process.exited;
  return { code, output: process.output() };
}

describe('meridian job heartbeat: bad configuration', () => {
  it.each([
    [
      { QUALIFY_BY: 'inactive-session', RANGE: 'now-1x|now' },
      /invalid configuration: RANGE: FROM part "now-1x": unknown unit "x"/,
    ],
    [{ QUALIFY_BY: 'inactive-session', RANGE: 'now|soon' }, /invalid configuration: RANGE: TO part "soon"/],
    [{ QUALIFY_BY: 'inactive-session', RANGE: 'now|now-1h' }, /invalid configuration: RANGE: FROM .* is after TO/],
    [
      { QUALIFY_BY: 'inactive' },
      /invalid configuration: QUALIFY_BY: expected one of inactive-session, visit-end, profile-segmentation, got "inactive"/,
    ],
    [
      { QUALIFY_BY: 'profile-segment' },
      /invalid configuration: QUALIFY_BY: expected one of inactive-session, visit-end, profile-segmentation/,
    ],
    [{}, /invalid configuration: QUALIFY_BY: required/],
    [
      { QUALIFY_BY: 'visit-end', SKIP_SECONDS: 'half an hour' },
      /invalid configuration: SKIP_SECONDS: expected a whole number/,
    ],
    [
      { QUALIFY_BY: 'inactive-session', RANGE: 'now-300000y|now' },
      /invalid configuration: RANGE: FROM part: falls outside the dates/,
    ],
    [
      { QUALIFY_BY: 'inactive-session', RANGE: 'now-20m|now', SKIP_SECONDS: '1800' },
      /invalid configuration: RANGE: starts at .*nothing in range can ever be registered/,
    ],
  ])('exits 2 naming the variable for %j', async (env, message) => {
    const { code, output } = await job({ DATA_DIR: ':memory:', ...env });
    expect(output).toMatch(message);
    expect(code).toBe(2);
  });

  it('refuses a dry run on an embedded DATA_DIR that does not exist, and creates nothing', async () => {
    const dataDir = join(tmpdir(), `meridian-absent-${process.pid}-${Date.now()}`);
    const { code, output } = await job({ QUALIFY_BY: 'visit-end', DATA_DIR: dataDir }, ['--dry-run']);
    expect(output).toContain(`no embedded store in ${dataDir}`);
    expect(code).toBe(1);
    expect(existsSync(dataDir)).toBe(false);
    const inMemory = await job({ QUALIFY_BY: 'visit-end', DATA_DIR: ':memory:' }, ['--dry-run']);
    expect(inMemory.output).toContain('no embedded store in :memory:');
    expect(inMemory.code).toBe(1);
  });

  it('leaves an existing embedded store as it was on a dry run, even a data context never migrated', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meridian-dry-'));
    try {
      expect((await job({ QUALIFY_BY: 'visit-end', DATA_DIR: dataDir })).code).toBe(0);
      const production = await job({ QUALIFY_BY: 'visit-end', DATA_DIR: dataDir, PRODUCTION: 'yes' }, ['--dry-run']);
      expect(production.output).toMatch(/schema meridian_prod\) lacks migrations 0001_init/);
      expect(production.code).toBe(1);
      const db = await openPGlite({ dataDir: join(dataDir, 'pgdata'), schema: 'meridian_test' });
      try {
        expect(await db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'meridian%'`)).toEqual([
          { nspname: 'meridian_test' },
        ]);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exits 1 with a clear message when the store is unreachable', async () => {
    const { code, output } = await job({
      QUALIFY_BY: 'visit-end',
      DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
    });
    expect(output).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1 \(DATABASE_URL\)/);
    expect(code).toBe(1);
  });
});

const available = await postgresAvailable();

describe.skipIf(!available)('meridian job heartbeat on PostgreSQL', () => {
  let database: TestDatabase;
  const stores: Database[] = [];

  /** An idle visitor in one data context: a session last active 30 minutes ago with its open visit. */
  async function seedIdleSession(production: boolean, id: string): Promise<void> {
    const db = connectPostgres({
      url: database.url,
      schema: production ? 'meridian_prod' : 'meridian_test',
      maxConnections: 1,
    });
    stores.push(db);
    await migrate(db);
    await db.query(`INSERT INTO profiles (id) VALUES ($1)`, [`p-${id}`]);
    await db.query(
      `INSERT INTO sessions (id, profile_id, source_id, last_event_at) VALUES ($1, $2, 'src', now() - interval '30 minutes')`,
      [id, `p-${id}`],
    );
    await db.query(
      `INSERT INTO events (id, type, profile_id, session_id, source_id, occurred_at) VALUES ($1, 'visit-started', $2, $3, 'src', now() - interval '30 minutes')`,
      [`e-${id}`, `p-${id}`, id],
    );
  }
  const countIn = async (production: boolean, type: string) => {
    const db = stores.find((store) => store.schema === (production ? 'meridian_prod' : 'meridian_test'))!;
    const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE type = $1', [type]);
    return row!.n;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await seedIdleSession(false, 'test-session');
    await seedIdleSession(true, 'prod-session');
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await database?.drop();
  });

  const reference = () => ({
    DATABASE_URL: database.url,
    RANGE: 'now-1h|now',
    SKIP_SECONDS: '900',
    QUALIFY_BY: 'inactive-session',
    EVENT_TYPE: 'session-inactive',
  });

  it('prints what a dry run would register and changes nothing', async () => {
    const { code, output } = await job(reference(), ['--dry-run']);
    expect(code).toBe(0);
    expect(output).toContain('would register session-inactive for session test-session');
    expect(output).toContain('dry run: nothing changed');
    expect(await countIn(false, 'session-inactive')).toBe(0);
  });

  it('does not migrate on a dry run: a store behind this version is refused and left as it was', async () => {
    const fresh = await createTestDatabase();
    try {
      const { code, output } = await job({ ...reference(), DATABASE_URL: fresh.url }, ['--dry-run']);
      expect(output).toMatch(/lacks migrations 0001_init, .*run `meridian migrate` first/);
      expect(code).toBe(1);
      const db = connectPostgres({ url: fresh.url, schema: 'meridian_test', maxConnections: 1 });
      try {
        expect(await db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'meridian%'`)).toEqual([]);
      } finally {
        await db.close();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('works on the data context PRODUCTION picks, and only there', async () => {
    const production = await job({ ...reference(), PRODUCTION: 'yes' });
    expect(production.code).toBe(0);
    expect(production.output).toMatch(/registered 1 session-inactive events/);
    expect([await countIn(true, 'session-inactive'), await countIn(false, 'session-inactive')]).toEqual([1, 0]);

    const test = await job(reference());
    expect(test.output).toMatch(/registered 1 session-inactive events/);
    expect(await countIn(false, 'session-inactive')).toBe(1);
    expect((await job(reference())).output).toMatch(/registered 0 session-inactive events/);
  });

  it('removes the workflow runs and consumed segment changes older than their retention, except on a dry run', async () => {
    const db = stores.find((store) => store.schema === 'meridian_test')!;
    await db.query(
      `INSERT INTO workflow_runs (id, flow_id, trigger, status, finished_at)
       VALUES ('expired', 'f', 'event', 'completed', now() - interval '8 days'),
              ('kept', 'f', 'event', 'failed', now() - interval '6 days')`,
    );
    await db.query(
      `INSERT INTO segment_changes (segment_id, profile_id, change, at, consumed_at)
       VALUES ('s', 'expired', 'entered', now() - interval '5 days', now()),
              ('s', 'kept', 'entered', now() - interval '3 days', now()),
              ('s', 'unconsumed', 'entered', now() - interval '5 days', NULL)`,
    );
    const runIds = async () =>
      (await db.query<{ id: string }>('SELECT id FROM workflow_runs ORDER BY id')).map((row) => row.id);
    const changes = async () =>
      (await db.query<{ profile_id: string }>('SELECT profile_id FROM segment_changes ORDER BY seq')).map(
        (row) => row.profile_id,
      );
    const retention = { WORKFLOW_RUN_RETENTION_DAYS: '7', SEGMENT_CHANGES_RETENTION_DAYS: '4' };
    expect((await job({ ...reference(), ...retention }, ['--dry-run'])).code).toBe(0);
    expect(await runIds()).toEqual(['expired', 'kept']);
    expect(await changes()).toEqual(['expired', 'kept', 'unconsumed']);
    expect((await job({ ...reference(), ...retention, SEGMENT_CHANGES_RETENTION_DAYS: '0' })).code).toBe(0);
    expect(await runIds()).toEqual(['kept']);
    expect(await changes()).toEqual(['expired', 'kept', 'unconsumed']);
    expect((await job({ ...reference(), ...retention })).code).toBe(0);
    expect(await changes()).toEqual(['kept', 'unconsumed']);
  });

  it('lets flags override the environment, and says once that ELASTIC_HOST is not used', async () => {
    const { code, output } = await job({ ...reference(), ELASTIC_HOST: 'http://elastic:9200' }, [
      '--qualify-by',
      'visit-end',
      '--close-event-type',
      'Visit Closed',
    ]);
    expect(code).toBe(0);
    expect(output).toMatch(/registered 1 visit-closed events/);
    expect(output.match(/ELASTIC_HOST is ignored/g)).toHaveLength(1);
    expect(output).toContain('DATABASE_URL');
    expect(await countIn(false, 'visit-closed')).toBe(1);
  });
});

describe('meridian start runs the heartbeat on its own timer', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meridian-heartbeat-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('logs a run of each qualifier every HEARTBEAT_INTERVAL_S', async () => {
    const port = await freePort();
    const process = runMeridian(['start'], {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      HEARTBEAT_INTERVAL_S: '1',
      LOG_LEVEL: 'info',
    });
    try {
      await waitForHealthy(`http://127.0.0.1:${port}`, process);
      const finished = () =>
        process.output().match(/"qualifyBy":"(inactive-session|visit-end)".*"msg":"heartbeat finished"/g) ?? [];
      for (let i = 0; i < 600 && finished().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(finished().join()).toContain('inactive-session');
      expect(finished().join()).toContain('visit-end');
    } finally {
      expect(await process.stop()).toBe(0);
    }
  }, 240_000);
});
