/**
 * `npm run bench`: /track throughput and latency against a bare Fastify baseline.
 *
 *  1. bare Fastify, one JSON POST route (the ceiling);
 *  2. /track on PostgreSQL (fresh database, dropped after), at full speed;
 *  3. /track on PostgreSQL at half the throughput of 2, for p50/p99 (target p99 < 25 ms), then the floor
 *     under 2 (bench/track-floor.ts) and the ceiling it leaves /track beside the target;
 *  `postgres-2proc`: 2 again with API_PROCESSES=2;
 *  4. /track on PGlite (temporary DATA_DIR, deleted after), then its floor, in this process;
 *  5. the condition benchmark, when bench/condition.ts exists;
 *  6. /track with one rule running a 5-node flow against /track without rules (PostgreSQL);
 *  7. `bridge`: events/s through the Redis Streams bridge against the same events over /track (PostgreSQL);
 *  8. `identity`: merges/s by identification points while /track runs at half its maximum rate, and that
 *     /track's p99 against the same rate without merges (PostgreSQL);
 *  9. `scheduler`: 100,000 scheduled items due in the same minute drained by one worker against a bare claim
 *     loop over the same table, and lateness at a steady 500 items/s (bench/scheduler.ts);
 *  10. `import`: a CSV imported as events and as profiles against COPY of the same rows (bench/import.ts).
 *
 * The load comes from another process (bench/load-generator.ts: wrk at full speed, autocannon at a fixed
 * rate); each /track run reports CPU milliseconds per request of the API processes, the bench database's
 * PostgreSQL backends and the load generator.
 *
 * Prints a table and rewrites the marked section of BENCHMARKS.md. Environment:
 *  BENCH_DURATION_S (10), BENCH_CONNECTIONS (50), BENCH_WARMUP_S (3), BENCH_POOL (300 returning visitors),
 *  BENCH_HISTORY (100000 profiles of stored history on PostgreSQL before measuring),
 *  BENCH_NEW_RATIO (0.3), BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/postgres),
 *  BENCH_REDIS_URL (redis://127.0.0.1:6379, the bridge case's stream),
 *  BENCH_WRITE (yes: write BENCHMARKS.md), BENCH_CPU_PROF (a directory: `node --cpu-prof` the API children there),
 *  BENCH_STRICT (no: exit 1 on a missed target, not only on failed requests),
 *  BENCH_CASES (bare,postgres,postgres-2proc,pglite,condition,workflow,segmentation,triggers,scheduler,heartbeat,bridge,identity,import: the cases to run),
 *  BENCH_PG_SETTINGS ("name=value;…": ALTER DATABASE … SET on the bench database only, e.g.
 *    "session_preload_libraries=auto_explain;auto_explain.log_min_duration=20" or "jit=off").
 *  GROUP_COMMIT_WAIT_MS / GROUP_COMMIT_MAX_BATCH pass through to the API children.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { failures, runLoad, type LoadResult } from './load.js';
import { LoadGenerator } from './load-generator.js';
import { cpuBetween, cpuSeconds, cpuSnapshot, describeWaits, processTree, sampleWaits } from './metrics.js';
import { mixedBodies, type TrackMix, type Visitor } from './track-mix.js';
import {
  conditionText,
  markdownSection,
  targetsText,
  textTable,
  writeSection,
  type CaseRow,
  type ConditionFigures,
  type CpuPerRequest,
  type Report,
  type Target,
} from './report.js';
import { ChildFailure, freePort, killAllChildren, startChild, type Child } from './servers.js';
import { benchHeartbeat, type HeartbeatRunFigure } from './heartbeat.js';
import { benchImport, describeImport, IMPORT_ROWS, importTargets } from './import.js';
import { benchSegmentation } from './segmentation.js';
import { benchScheduler, describeScheduler, schedulerTargets } from './scheduler.js';
import { benchTriggers, describeTriggers } from './triggers.js';
import { measureFloor, type FloorFigures } from './track-floor.js';
import type { Database } from '../src/storage/database.js';
import { openPGlite } from '../src/storage/pglite.js';
import { connectPostgres } from '../src/storage/postgres.js';

// ---------------------------------------------------------------- configuration

function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name}: expected a number in ${min}..${max}, got "${raw}"`);
  }
  return value;
}
const envYes = (name: string, fallback: boolean) => {
  const raw = process.env[name]?.trim().toLowerCase();
  return raw ? ['1', 'yes', 'true', 'on'].includes(raw) : fallback;
};

const HERE = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
const ROOT = resolve(HERE, '..', '..');
const MERIDIAN_BIN = join(ROOT, 'bin', 'meridian');
const BARE_SERVER = join(HERE, 'bare-fastify.js');
const BENCHMARKS_MD = join(ROOT, 'BENCHMARKS.md');

const settings = {
  durationS: envNumber('BENCH_DURATION_S', 10, 1, 600),
  connections: envNumber('BENCH_CONNECTIONS', 50, 1, 2000),
  warmupS: envNumber('BENCH_WARMUP_S', 3, 0, 120),
  pool: envNumber('BENCH_POOL', 300, 1, 100_000),
  history: envNumber('BENCH_HISTORY', 100_000, 0, 10_000_000),
  newRatio: envNumber('BENCH_NEW_RATIO', 0.3, 0, 1),
  postgresUrl: process.env['BENCH_POSTGRES_URL']?.trim() || 'postgresql://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env['BENCH_REDIS_URL']?.trim() || 'redis://127.0.0.1:6379',
  write: envYes('BENCH_WRITE', true),
  strict: envYes('BENCH_STRICT', false),
  cpuProfDir: process.env['BENCH_CPU_PROF']?.trim() || undefined,
  cases: new Set(
    (
      process.env['BENCH_CASES']?.trim() ||
      'bare,postgres,postgres-2proc,pglite,condition,workflow,segmentation,triggers,scheduler,heartbeat,bridge,identity,import'
    )
      .split(',')
      .map((name) => name.trim()),
  ),
  pgSettings: (process.env['BENCH_PG_SETTINGS'] ?? '')
    .split(';')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const match = /^([a-z_][a-z0-9_.]*)\s*=\s*(.*)$/i.exec(pair);
      if (!match) throw new Error(`BENCH_PG_SETTINGS: expected name=value, got "${pair}"`);
      return { name: match[1]!, value: match[2]! };
    }),
};

/** The schema `meridian api` keeps its data in outside production (schemaFor). */
const BENCH_SCHEMA = 'meridian_test';

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

// ---------------------------------------------------------------- cleanup

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs registered clean-ups once, newest first; each failure is logged, none stops the others. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve(cleanup()), 30_000, 'clean-up');
      } catch (error) {
        log(`clean-up failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    killAllChildren();
  })();
  return cleaning;
}
process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping children and cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Runs the load while watching the child: a crashed server fails the case with its output. */
async function loadAgainst<T>(child: Child, work: Promise<T>, seconds: number): Promise<T> {
  return withTimeout(Promise.race([work, child.exited]), (seconds + 60) * 1000, `load on ${child.name}`);
}

// ---------------------------------------------------------------- load

/** Plans and wrk scripts; removed at exit. */
const loadDir = mkdtempSync(join(tmpdir(), 'meridian-bench-load-'));
process.on('exit', () => rmSync(loadDir, { recursive: true, force: true }));
const generator = new LoadGenerator(loadDir);

// ---------------------------------------------------------------- Meridian helpers

interface Meridian {
  child: Child;
  url: string;
  token: string;
  sourceId: string;
  /** The bench's mix over this server's source and returning visitors. */
  mix: TrackMix;
}

async function startMeridian(name: string, env: Record<string, string | undefined>): Promise<Meridian> {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const url = `http://127.0.0.1:${port}`;
  const nodeArgs = [] as string[];
  if (settings.cpuProfDir) {
    mkdirSync(settings.cpuProfDir, { recursive: true });
    nodeArgs.push(
      '--cpu-prof',
      `--cpu-prof-dir=${resolve(settings.cpuProfDir)}`,
      // Forked API processes inherit these flags: one name would be written by each in turn; node's default has the pid.
      ...(Number(env['API_PROCESSES'] ?? 1) > 1
        ? []
        : [`--cpu-prof-name=${name.replace(/\W+/g, '-')}-${Date.now()}.cpuprofile`]),
    );
  }
  const child = await startChild({
    name,
    nodeArgs: [...nodeArgs, MERIDIAN_BIN, 'api'],
    cwd: ROOT,
    env: {
      REDIS_HOST: undefined, // in-process queue: /track does not touch it, and Redis must not sway the figures
      PRODUCTION: undefined,
      HOST: '127.0.0.1',
      PORT: String(port),
      API_TOKEN: token,
      LOG_LEVEL: 'warn',
      ...env,
    },
    healthUrl: `${url}/healthcheck`,
    startTimeoutMs: 90_000,
  });
  cleanups.push(async () => void (await child.stop()));
  try {
    const created = await fetch(`${url}/event-sources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await created.json()) as { id?: string };
    if (created.status !== 201 || !body.id)
      throw new Error(`POST /event-sources answered ${created.status}: ${JSON.stringify(body)}`);
    const sourceId = body.id;
    log(`${name}: event source ${sourceId}; creating ${settings.pool} returning visitors`);
    const pool = await createVisitors(url, sourceId, settings.pool);
    return { child, url, token, sourceId, mix: { sourceId, pool, newRatio: settings.newRatio } };
  } catch (error) {
    throw new ChildFailure(
      `${name}: setup failed: ${error instanceof Error ? error.message : String(error)}`,
      child.output(),
    );
  }
}

/** New visitors, 10 at a time; their profile and session ids are what returning visitors send. */
async function createVisitors(url: string, sourceId: string, count: number): Promise<Visitor[]> {
  const visitors: Visitor[] = [];
  const newVisitor = mixedBodies({ sourceId, pool: [], newRatio: 1 });
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const response = await fetch(`${url}/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: newVisitor(),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { profile?: { id: string }; session?: { id: string } };
      if (response.status !== 200 || !body.profile || !body.session) {
        throw new Error(`POST /track answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
      }
      visitors.push({ profile: body.profile.id, session: body.session.id });
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  return visitors;
}

interface Measured {
  result: LoadResult;
  /** CPU seconds over the measured run: the API process(es), the bench database's backends, the load generator. */
  cpu: { api?: number; postgres?: number; loadGenerator: number };
  generator: string;
  /** PostgreSQL only: group-commit flushes during the run, and what the backends were doing. */
  flushes?: number;
  waits?: string;
  /** When the measured run started and ended. */
  window: { startedAt: Date; finishedAt: Date };
}

interface PostgresProbe {
  /** Admin connection (another database), for pg_stat_activity. */
  admin: postgres.Sql;
  /** Connection to the bench database, for counting flushes. */
  bench: postgres.Sql;
  database: string;
}

/** Warm-up (unmeasured), then the measured run, with CPU seconds per party and PostgreSQL diagnostics. */
async function measure(
  meridian: { child: Child; url: string },
  mix: TrackMix,
  options: { overallRate?: number; warmup: boolean; pg?: PostgresProbe },
): Promise<Measured> {
  const plan = { url: meridian.url, connections: settings.connections, mix, overallRate: options.overallRate };
  const load = (durationS: number) => loadAgainst(meridian.child, generator.run({ ...plan, durationS }), durationS);
  if (options.warmup && settings.warmupS > 0) await load(settings.warmupS);
  const pg = options.pg;
  const sampler = pg
    ? sampleWaits(
        (database) =>
          pg.admin`SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = ${database} AND application_name = 'meridian'`,
        pg.database,
      )
    : undefined;
  // The API's processes (a cluster primary and its workers) do not change during a run.
  const apiPids = meridian.child.pid === undefined ? [] : processTree(meridian.child.pid);
  const startedAt = new Date();
  const before = {
    api: cpuSnapshot(apiPids),
    postgres: cpuSnapshot(pg ? await backendPids(pg.admin, pg.database) : []),
  };
  const generated = await load(settings.durationS);
  const after = {
    api: cpuSnapshot(apiPids),
    postgres: cpuSnapshot(pg ? await backendPids(pg.admin, pg.database) : []),
  };
  const finishedAt = new Date();
  const sampled = await sampler?.stop();
  // Every flush stamps its events with one inserted_at, so distinct stamps count the flushes.
  const flushes = pg
    ? Number(
        (
          await pg.bench<{ n: string }[]>`SELECT count(DISTINCT inserted_at)::text AS n FROM events
                                          WHERE inserted_at >= ${startedAt} AND inserted_at <= ${finishedAt}`
        )[0]?.n ?? 0,
      )
    : undefined;
  return {
    result: generated.result,
    cpu: {
      api: after.api.size ? cpuBetween(before.api, after.api) : undefined,
      postgres: pg && after.postgres.size ? cpuBetween(before.postgres, after.postgres) : undefined,
      loadGenerator: generated.cpuSeconds,
    },
    generator: generated.generator,
    flushes,
    waits: sampled ? describeWaits(sampled.tally, sampled.samples) : undefined,
    window: { startedAt, finishedAt },
  };
}

async function backendPids(sql: postgres.Sql, database: string): Promise<number[]> {
  const rows = await sql<
    { pid: number }[]
  >`SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND application_name = 'meridian'`;
  return rows.map((row) => row.pid);
}

const pct = (seconds: number | undefined, wall: number) =>
  seconds === undefined ? 'n/a' : `${Math.round((seconds / wall) * 100)} %`;

/** CPU milliseconds per completed request of each party, for the table. */
function cpuPerRequest(measured: Measured): CpuPerRequest {
  const perRequest = (seconds: number | undefined) =>
    seconds === undefined || measured.result.completed === 0 ? undefined : (seconds * 1000) / measured.result.completed;
  return {
    api: perRequest(measured.cpu.api),
    postgres: perRequest(measured.cpu.postgres),
    loadGenerator: perRequest(measured.cpu.loadGenerator),
  };
}

/** A table row of a /track run, with its CPU per request. */
function trackRow(name: string, measured: Measured, rate?: number): CaseRow {
  return { name, result: measured.result, rate, connections: settings.connections, cpu: cpuPerRequest(measured) };
}

function describeCpu(name: string, measured: Measured): string {
  const wall = measured.result.durationS || settings.durationS;
  const parts = [
    `API process(es) ${pct(measured.cpu.api, wall)} of a core`,
    ...(measured.cpu.postgres !== undefined ? [`PostgreSQL backends ${pct(measured.cpu.postgres, wall)}`] : []),
    `${measured.generator} ${pct(measured.cpu.loadGenerator, wall)}`,
  ];
  const batch =
    measured.flushes !== undefined && measured.flushes > 0
      ? `; ${measured.flushes.toLocaleString('en-US')} group-commit flushes (${(measured.flushes / wall).toFixed(0)}/s, ` +
        `${(measured.result.completed / measured.flushes).toFixed(1)} requests each)`
      : '';
  const waits = measured.waits ? `; PostgreSQL backends sampled: ${measured.waits}` : '';
  return `${name}: CPU over the measured run: ${parts.join(', ')}${batch}${waits}.`;
}

// ---------------------------------------------------------------- the cases

/** What the machine gives a request with no storage: bare Fastify's req/s and CPU per request. */
interface Baseline {
  reqPerSec: number;
  cpu: CpuPerRequest;
}

async function benchBare(rows: CaseRow[], notes: string[]): Promise<Baseline> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await startChild({
    name: 'bare Fastify',
    nodeArgs: [BARE_SERVER],
    cwd: ROOT,
    env: { PORT: String(port) },
    healthUrl: `${url}/healthcheck`,
  });
  cleanups.push(async () => void (await child.stop()));
  log(`bare Fastify: ${settings.durationS} s at ${settings.connections} connections`);
  const mix = { sourceId: 'bench-source', pool: [], newRatio: settings.newRatio };
  const measured = await measure({ child, url }, mix, { warmup: true });
  await child.stop();
  rows.push(trackRow('bare Fastify (1 JSON POST route)', measured));
  notes.push(describeCpu('bare Fastify', measured));
  return { reqPerSec: measured.result.reqPerSec, cpu: cpuPerRequest(measured) };
}

async function postgresAvailable(): Promise<string | undefined> {
  const sql = postgres(settings.postgresUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/**
 * A CDP in use holds history: /track is measured against tables of BENCH_HISTORY profiles (one
 * session and three events each), analysed as autovacuum would have, not against empty ones whose
 * plans and index depths say nothing about production.
 */
async function seedHistory(sql: postgres.Sql, sourceId: string): Promise<void> {
  const profiles = settings.history;
  if (profiles === 0) return;
  const started = Date.now();
  await sql.unsafe(
    `INSERT INTO profiles (id, visits, traits) SELECT 'h' || g, 1, jsonb_build_object('n', g) FROM generate_series(1, $1::int) g`,
    [profiles],
  );
  await sql.unsafe(
    `INSERT INTO sessions (id, profile_id, source_id) SELECT 'hs' || g, 'h' || g, $2 FROM generate_series(1, $1::int) g`,
    [profiles, sourceId],
  );
  await sql.unsafe(
    `INSERT INTO events (id, type, profile_id, session_id, source_id, properties, occurred_at)
     SELECT 'he' || g || '-' || k, (ARRAY['page-view','add-to-cart','purchase'])[k], 'h' || g, 'hs' || g, $2, jsonb_build_object('k', k), now()
       FROM generate_series(1, $1::int) g, generate_series(1, 3) k`,
    [profiles, sourceId],
  );
  // A store in use has been vacuumed and checkpointed since its rows arrived: without this, the
  // autovacuum of the fresh rows and the first checkpoint land inside the measured window.
  await sql.unsafe('VACUUM (ANALYZE)');
  await sql.unsafe('CHECKPOINT');
  log(
    `seeded ${profiles} profiles, ${profiles} sessions, ${profiles * 3} events of history in ${Date.now() - started} ms`,
  );
}

/**
 * `meridian api` on a fresh bench database holding the /track case's history, the bench's own connection
 * to that database, and the probe that samples its backends.
 */
async function seededMeridian(
  label: string,
  notes: string[],
  env: Record<string, string> = {},
): Promise<{ meridian: Meridian; sql: postgres.Sql; probe: PostgresProbe; url: URL }> {
  const { admin, database, url } = await createBenchDatabase(notes);
  log(`${label}: database ${database}`);
  const meridian = await startMeridian(`meridian api (PostgreSQL, ${label})`, {
    DATABASE_URL: url.toString(),
    DATA_DIR: undefined,
    ...env,
  });
  const sql = postgres(url.toString(), {
    max: 1,
    onnotice: () => {},
    connection: { search_path: `${BENCH_SCHEMA},public`, application_name: 'meridian-bench' },
  });
  cleanups.push(async () => void (await sql.end({ timeout: 2 })));
  await seedHistory(sql, meridian.sourceId);
  return { meridian, sql, probe: { admin, bench: sql, database }, url };
}

/** A fresh database on the bench server, dropped at clean-up, with BENCH_PG_SETTINGS applied. */
async function createBenchDatabase(notes: string[]): Promise<{ admin: postgres.Sql; database: string; url: URL }> {
  const database = `meridian_bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(settings.postgresUrl, { max: 2, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  cleanups.push(async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end({ timeout: 2 });
    log(`dropped database ${database}`);
  });
  for (const { name, value } of settings.pgSettings) {
    await admin.unsafe(`ALTER DATABASE ${database} SET ${name} = '${value.replace(/'/g, "''")}'`);
    notes.push(`PostgreSQL bench database: SET ${name} = '${value}'.`);
  }
  const url = new URL(settings.postgresUrl);
  url.pathname = `/${database}`;
  return { admin, database, url };
}

/** How /track on PostgreSQL is measured: by one API process (with a half-rate run), or by several. */
interface PostgresVariant {
  processes: number;
  halfRate: boolean;
}

async function benchPostgres(
  rows: CaseRow[],
  notes: string[],
  variant: PostgresVariant,
): Promise<{ max?: LoadResult; half?: LoadResult; floor?: FloorFigures }> {
  const name =
    variant.processes === 1 ? '/track on PostgreSQL' : `/track on PostgreSQL, ${variant.processes} API processes`;
  const unavailable = await postgresAvailable();
  if (unavailable) {
    const note = `PostgreSQL unreachable at ${settings.postgresUrl}: ${unavailable}`;
    rows.push({ name, connections: settings.connections, note: `skipped: ${note}` });
    if (variant.halfRate) rows.push({ name: `${name}, half rate`, connections: settings.connections, note: 'skipped' });
    return {};
  }
  const { meridian, probe, url } = await seededMeridian(`${variant.processes} process(es)`, notes, {
    API_PROCESSES: String(variant.processes),
  });

  log(`${name}: ${settings.durationS} s at ${settings.connections} connections`);
  const max = await measure(meridian, meridian.mix, { warmup: true, pg: probe });
  rows.push(trackRow(name, max));
  notes.push(describeCpu(name, max));
  if (!variant.halfRate) {
    await meridian.child.stop();
    return { max: max.result };
  }
  const rate = Math.max(1, Math.floor(max.result.reqPerSec / 2));
  log(`${name} at ${rate} req/s: ${settings.durationS} s`);
  const half = await measure(meridian, meridian.mix, { overallRate: rate, warmup: false, pg: probe });
  rows.push(trackRow(`${name}, half rate`, half, rate));
  notes.push(describeCpu(`${name} at half rate`, half));
  await meridian.child.stop();
  const lanes = Number(process.env['COMMIT_LANES'] ?? 4);
  const db = connectPostgres({ url: url.toString(), schema: BENCH_SCHEMA, maxConnections: lanes });
  try {
    const floor = await measureFloorAfter(max, db, meridian.mix, lanes, async () => {
      const pids = await backendPids(probe.admin, probe.database);
      return [...cpuSnapshot(pids).values()].reduce((sum, seconds) => sum + seconds, 0);
    });
    rows.push(floorRow('PostgreSQL', floor));
    return { max: max.result, half: half.result, floor };
  } finally {
    await db.close();
  }
}

/**
 * The floor (bench/track-floor.ts) under a /track run just measured, on the store it ran on, with the
 * flush size it saw (`flushes` counted, or else counted here by distinct `inserted_at` stamps).
 */
async function measureFloorAfter(
  measured: Measured,
  db: Database,
  mix: TrackMix,
  lanes: number,
  cpuSecondsOfEngine: () => Promise<number>,
): Promise<FloorFigures> {
  const { startedAt, finishedAt } = measured.window;
  const [counted] = await db.query<{ n: number }>(
    'SELECT count(DISTINCT inserted_at)::int AS n FROM events WHERE inserted_at BETWEEN $1 AND $2',
    [startedAt, finishedAt],
  );
  const flushes = measured.flushes ?? counted?.n ?? 0;
  const flushSize = flushes > 0 ? measured.result.completed / flushes : 1;
  log(`floor: ${lanes} lane(s), flushes of ${flushSize.toFixed(1)} requests, ${settings.durationS} s`);
  return measureFloor(db, { lanes, flushSize, durationS: settings.durationS, mix, cpuSeconds: cpuSecondsOfEngine });
}

function floorRow(engine: string, floor: FloorFigures): CaseRow {
  return {
    name: `floor: the same rows on ${engine}, no HTTP`,
    connections: floor.lanes,
    setup: `${floor.lanes} lane(s), ${floor.flushSize.toFixed(1)} req/flush`,
    figure: `${Math.round(floor.reqPerSec).toLocaleString('en-US')} req/s, ${floor.cpuMsPerRequest.toFixed(3)} CPU ms/req of ${engine}`,
  };
}

/** The issue's flow: if → set → increment → add segment → end, after the start node. */
const BENCH_FLOW = {
  name: 'bench: five nodes',
  type: 'collection',
  graph: {
    nodes: [
      { id: 'start', action: 'start', config: {} },
      { id: 'if', action: 'if', config: { condition: 'event@type == "page-view"' } },
      { id: 'set', action: 'set-value', config: { target: 'profile@traits.last_page', value: 'event@properties.url' } },
      { id: 'count', action: 'increment', config: { target: 'profile@traits.page_views', by: 1 } },
      { id: 'segment', action: 'add-segment', config: { segment: 'browsing' } },
      { id: 'end', action: 'end', config: {} },
    ],
    edges: [
      { from: { node: 'start', port: 'payload' }, to: { node: 'if' } },
      { from: { node: 'if', port: 'true' }, to: { node: 'set' } },
      { from: { node: 'set', port: 'payload' }, to: { node: 'count' } },
      { from: { node: 'count', port: 'payload' }, to: { node: 'segment' } },
      { from: { node: 'segment', port: 'payload' }, to: { node: 'end' } },
    ],
  },
};

async function adminPost(meridian: Meridian, path: string, body: unknown): Promise<{ id: string }> {
  const response = await fetch(`${meridian.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${meridian.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const answer = (await response.json()) as { id: string };
  if (response.status !== 201) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * /track with one rule starting BENCH_FLOW for every page-view, against /track without rules, in one
 * run on one PostgreSQL database (`meridian api` without Redis: the workflow worker runs in the API
 * process). Afterwards, how long the runs recorded during the measurement took to be all executed.
 */
async function benchWorkflow(rows: CaseRow[], notes: string[]): Promise<Target> {
  const description = '/track with a 5-node flow ≥ 70 % of /track without rules';
  const unavailable = await postgresAvailable();
  if (unavailable) return { description, met: undefined, detail: `skipped: PostgreSQL unreachable (${unavailable})` };
  // The same history as the /track case: on an empty, never analysed database the planner's choices, not
  // the flow, decided both runs.
  const { meridian, sql, probe } = await seededMeridian('workflow', notes);
  log(`/track without rules: ${settings.durationS} s at ${settings.connections} connections`);
  const without = await measure(meridian, meridian.mix, { warmup: true, pg: probe });
  const flow = await adminPost(meridian, '/flows', BENCH_FLOW);
  await adminPost(meridian, '/rules', { name: 'bench', kind: 'event', eventType: 'page-view', flowId: flow.id });
  log(`/track with one rule: ${settings.durationS} s at ${settings.connections} connections`);
  const withRule = await measure(meridian, meridian.mix, { warmup: true, pg: probe });
  const drainStarted = Date.now();
  let unfinished = Infinity;
  while (unfinished > 0 && Date.now() - drainStarted < 300_000) {
    const [row] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM workflow_runs
                                             WHERE status IN ('pending', 'running')`;
    unfinished = Number(row?.n ?? 0);
    if (unfinished > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const [counts] = await sql<{ completed: string; failed: string }[]>`
    SELECT count(*) FILTER (WHERE status = 'completed')::text AS completed,
           count(*) FILTER (WHERE status = 'failed')::text AS failed
      FROM workflow_runs`;
  await meridian.child.stop();
  rows.push(trackRow('/track on PostgreSQL, no rules', without));
  rows.push(trackRow('/track on PostgreSQL, 1 rule, 5-node flow', withRule));
  notes.push(describeCpu('/track without rules', without));
  notes.push(describeCpu('/track with a 5-node flow', withRule));
  notes.push(
    `Workflow: ${counts?.completed} runs completed, ${counts?.failed} failed; the last ones finished ` +
      `${((Date.now() - drainStarted) / 1000).toFixed(1)} s after the load stopped` +
      (unfinished > 0 ? ` (${unfinished} still unfinished after 300 s)` : '') +
      '.',
  );
  const ratio = withRule.result.reqPerSec / without.result.reqPerSec;
  return {
    description,
    met: ratio >= 0.7 && failures(withRule.result) === 0,
    detail: `${Math.round(withRule.result.reqPerSec)} vs ${Math.round(without.result.reqPerSec)} req/s (${(ratio * 100).toFixed(1)} %)`,
  };
}

/** How many known people (a profile holding an email) the identity case seeds for identifications to find. */
const IDENTITY_PEOPLE = 200_000;

/**
 * Merges while /track runs at half its maximum rate, against the same half rate without merges, in one
 * run on one PostgreSQL database: an identification point (`identify` events copy `properties.email`
 * to `pii.email`), IDENTITY_PEOPLE seeded profiles each holding an email, and a second load of
 * `identify` events from new visitors, each with the email of a seeded profile it has not used yet, so
 * that every one makes its new profile merge into the known one in the commit that stores it.
 */
async function benchIdentity(rows: CaseRow[], notes: string[]): Promise<void> {
  const unavailable = await postgresAvailable();
  if (unavailable) {
    rows.push({ name: 'identity', connections: settings.connections, note: `skipped: PostgreSQL unreachable` });
    return;
  }
  const { meridian, sql, probe } = await seededMeridian('identity', notes);
  await sql.unsafe(
    `INSERT INTO profiles (id, visits, pii, created_at)
     SELECT 'known-' || g, 1, jsonb_build_object('email', 'person-' || g || '@example.org'), now() - interval '1 day'
       FROM generate_series(1, $1::int) g`,
    [IDENTITY_PEOPLE],
  );
  await sql.unsafe(
    `INSERT INTO identity_keys (key, value, profile_id)
     SELECT 'pii.email', 'person-' || g || '@example.org', 'known-' || g FROM generate_series(1, $1::int) g`,
    [IDENTITY_PEOPLE],
  );
  await sql.unsafe('ANALYZE');
  await adminPost(meridian, '/identification-points', {
    name: 'bench: email',
    eventType: 'identify',
    fields: [{ event: 'properties.email', profile: 'pii.email' }],
  });
  log(`identity: /track at full speed, ${settings.durationS} s at ${settings.connections} connections`);
  const max = await measure(meridian, meridian.mix, { warmup: true, pg: probe });
  const rate = Math.max(1, Math.floor(max.result.reqPerSec / 2));
  log(`identity: /track at ${rate} req/s without merges`);
  const without = await measure(meridian, meridian.mix, { overallRate: rate, warmup: false, pg: probe });
  let person = 0;
  const identify = () =>
    JSON.stringify({
      source: { id: meridian.sourceId },
      events: [{ type: 'identify', properties: { email: `Person-${++person}@example.org` } }],
    });
  const mergeConnections = 4;
  log(`identity: /track at ${rate} req/s with identifications merging on ${mergeConnections} more connections`);
  const mergedBefore = await mergeCount(sql);
  const [during, merging] = await Promise.all([
    measure(meridian, meridian.mix, { overallRate: rate, warmup: false, pg: probe }),
    loadAgainst(
      meridian.child,
      runLoad({
        url: meridian.url,
        path: '/track',
        connections: mergeConnections,
        durationS: settings.durationS,
        body: identify,
      }),
      settings.durationS,
    ),
  ]);
  const merges = (await mergeCount(sql)) - mergedBefore;
  if (person >= IDENTITY_PEOPLE) throw new Error(`identity: ran out of the ${IDENTITY_PEOPLE} seeded people`);
  await meridian.child.stop();
  rows.push(trackRow('/track on PostgreSQL, half rate, no merges', without, rate));
  rows.push(trackRow('/track on PostgreSQL, half rate, while merging', during, rate));
  rows.push({
    name: 'identify events merging (second load)',
    result: merging,
    connections: mergeConnections,
    setup: `${mergeConnections} conn, max: ${(merges / merging.durationS).toFixed(0)} merges/s`,
  });
  notes.push(
    `Identity: ${merges} merges in ${merging.durationS} s (${(merges / merging.durationS).toFixed(0)}/s, ` +
      `identification points, ${mergeConnections} connections) while /track ran at ${rate} req/s (half of ${Math.round(max.result.reqPerSec)}): ` +
      `/track p99 ${during.result.latencyMs.p99} ms (p50 ${during.result.latencyMs.p50}) against ` +
      `${without.result.latencyMs.p99} ms (p50 ${without.result.latencyMs.p50}) without merges.`,
  );
  notes.push(describeCpu('/track at half rate while merging', during));
}

async function mergeCount(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM profile_merges WHERE status = 'merged'`;
  return Number(row?.n ?? 0);
}

async function benchPglite(rows: CaseRow[], notes: string[]): Promise<{ reqPerSec: number; floor: FloorFigures }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meridian-bench-'));
  cleanups.push(() => {
    rmSync(dataDir, { recursive: true, force: true });
    log(`deleted ${dataDir}`);
  });
  const meridian = await startMeridian('meridian api (PGlite)', { DATABASE_URL: undefined, DATA_DIR: dataDir });
  log(`/track on PGlite: ${settings.durationS} s at ${settings.connections} connections`);
  const measured = await measure(meridian, meridian.mix, { warmup: true });
  rows.push(trackRow('/track on PGlite', measured));
  notes.push(describeCpu('/track on PGlite', measured));
  await meridian.child.stop();
  // In the API's process and thread, as `meridian api` runs it: this process's CPU is PGlite's.
  const db = await openPGlite({ dataDir: join(dataDir, 'pgdata'), schema: BENCH_SCHEMA });
  try {
    const floor = await measureFloorAfter(measured, db, meridian.mix, 1, async () => cpuSeconds(process.pid) ?? 0);
    rows.push(floorRow('PGlite', floor));
    return { reqPerSec: measured.result.reqPerSec, floor };
  } finally {
    await db.close();
  }
}

/** The stored page views of one source: /track's and the bridge's events, without the system events. */
async function pageViews(sql: postgres.Sql, sourceId: string): Promise<number> {
  const [row] = await sql<
    { n: string }[]
  >`SELECT count(*)::text AS n FROM events WHERE source_id = ${sourceId} AND type = 'page-view'`;
  return Number(row?.n ?? 0);
}

/**
 * Events/s through the Redis Streams bridge against the same events over /track, in the same run and
 * database: /track as the postgres case measures it (no seeded history), then a stream filled with
 * the same bodies (without `source`: the bridge's own) and drained by one `meridian bridge
 * redis-streams` process, counted in the store from its first stored event for BENCH_DURATION_S.
 */
async function benchBridge(rows: CaseRow[], notes: string[]): Promise<void> {
  const name = 'Redis Streams bridge (1 process)';
  const unavailable = await postgresAvailable();
  const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const redisDown = await redis.connect().then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  if (unavailable || redisDown) {
    redis.disconnect();
    rows.push({
      name,
      connections: 0,
      note: `skipped: ${unavailable ?? `Redis at ${settings.redisUrl}: ${redisDown}`}`,
    });
    return;
  }
  const stream = `meridian-bench-${randomBytes(5).toString('hex')}`;
  cleanups.push(async () => {
    await redis.del(stream, `${stream}:dead`);
    redis.disconnect();
  });
  const url = (await createBenchDatabase(notes)).url.toString();
  const meridian = await startMeridian('meridian api (PostgreSQL, bridge case)', {
    DATABASE_URL: url,
    DATA_DIR: undefined,
  });
  const body = mixedBodies(meridian.mix);
  log(`/track for the bridge case: ${settings.durationS} s at ${settings.connections} connections`);
  const track = await measure(meridian, meridian.mix, { warmup: true });
  rows.push(trackRow('/track on PostgreSQL (bridge case)', track));

  const created = await fetch(`${meridian.url}/event-sources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${meridian.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'bench bridge',
      type: 'redis-streams',
      config: { url: settings.redisUrl, stream, group: 'meridian', prefetch: 256, batchSize: 256 },
    }),
  });
  const sourceId = ((await created.json()) as { id?: string }).id;
  if (created.status !== 201 || !sourceId) throw new Error(`POST /event-sources answered ${created.status}`);
  // Four times what /track stored in as long, so that the stream lasts most of the measured time.
  const messages = Math.max(2_000, Math.ceil(track.result.reqPerSec * settings.durationS * 4));
  for (let sent = 0; sent < messages; sent += 1_000) {
    const pipeline = redis.pipeline();
    for (let i = sent; i < Math.min(messages, sent + 1_000); i++) {
      const { source: _source, ...message } = JSON.parse(body()) as Record<string, unknown>;
      pipeline.xadd(stream, '*', 'data', JSON.stringify(message));
    }
    await pipeline.exec();
  }
  log(`${name}: ${messages} messages in stream ${stream}`);

  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: 'meridian_test,public' } });
  cleanups.push(async () => void (await sql.end({ timeout: 2 })));
  const bridge = await startChild({
    name: 'meridian bridge redis-streams',
    nodeArgs: [MERIDIAN_BIN, 'bridge', 'redis-streams'],
    cwd: ROOT,
    env: { DATABASE_URL: url, DATA_DIR: undefined, REDIS_HOST: undefined, PRODUCTION: undefined, LOG_LEVEL: 'warn' },
  });
  cleanups.push(async () => void (await bridge.stop()));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const watch = async (until: (count: number, at: number) => boolean) => {
    for (;;) {
      const count = await pageViews(sql, sourceId);
      const at = Date.now();
      if (until(count, at)) return { count, at };
      await Promise.race([sleep(100), bridge.exited]);
    }
  };
  const started = Date.now();
  const first = await withTimeout(
    watch((count, at) => count > 0 || at - started > 90_000),
    120_000,
    'the bridge’s first event',
  );
  if (first.count === 0) throw new ChildFailure('the bridge stored nothing within 90 s', bridge.output());
  const cpuBefore = cpuSeconds(bridge.pid);
  const last = await watch((count, at) => count >= messages || at - first.at >= settings.durationS * 1000);
  const cpuAfter = cpuSeconds(bridge.pid);
  await bridge.stop();
  await meridian.child.stop();
  const seconds = (last.at - first.at) / 1000;
  const perSecond = (last.count - first.count) / seconds;
  const ratio = perSecond / track.result.reqPerSec;
  rows.push({
    name,
    connections: 0,
    setup: 'stream, prefetch 256',
    figure: `${Math.round(perSecond).toLocaleString('en-US')} events/s = ${ratio.toFixed(2)} × /track in this run`,
  });
  notes.push(
    `Bridge case: ${Math.round(perSecond)} events/s through one \`meridian bridge redis-streams\` process ` +
      `(prefetch 256, ${last.count - first.count} events in ${seconds.toFixed(1)} s, ` +
      `bridge process ${pct(cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined, seconds)} of a core) ` +
      `against ${Math.round(track.result.reqPerSec)} events/s over /track (${settings.connections} connections, one event per request), ` +
      `same database: ${ratio.toFixed(2)} ×.`,
  );
}

async function benchConditionIfPresent(): Promise<{ figures?: ConditionFigures; note?: string }> {
  const file = join(HERE, 'condition.js');
  if (!existsSync(file)) return { note: 'bench/condition.ts does not exist (yet)' };
  const specifier = './condition.js'; // not a literal: the module may not exist when this file is compiled
  const loaded = (await import(specifier)) as { benchCondition?: () => Promise<ConditionFigures> };
  if (typeof loaded.benchCondition !== 'function')
    return { note: 'bench/condition.ts does not export benchCondition()' };
  log('condition benchmark');
  const figures = await withTimeout(loaded.benchCondition(), 180_000, 'benchCondition()');
  return { figures };
}

// ---------------------------------------------------------------- main

/** Which code was measured: the commit, and whether src/ had uncommitted changes compiled in. */
function sourceState(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length;
    return dirty
      ? `Measured code: commit ${head} plus uncommitted changes in ${dirty} file(s) under src/ (as compiled in dist/).`
      : `Measured code: commit ${head}, src/ unmodified.`;
  } catch {
    return 'Measured code: git state unknown.';
  }
}

/**
 * A target as a share of bare Fastify's req/s, next to the ceiling the machine allows: `cores` of CPU
 * spent at the floor's cost per request plus bare Fastify's own (its API process and wrk), and no
 * more than the floor's own req/s at the same lanes and flush size (a flush's latency bounds a lane).
 */
function shareTarget(
  what: string,
  share: number,
  reqPerSec: number,
  baseline: Baseline,
  floor: FloorFigures | undefined,
  cores: number,
): Target {
  const percent = (value: number) => `${((value / baseline.reqPerSec) * 100).toFixed(1)} %`;
  const needed = baseline.reqPerSec * share;
  const detail = `${Math.round(reqPerSec)} vs ${Math.round(needed)} req/s needed (${percent(reqPerSec)} of ${Math.round(baseline.reqPerSec)})`;
  const bareCpu = (baseline.cpu.api ?? 0) + (baseline.cpu.loadGenerator ?? 0);
  const ceiling = floor && Math.min((cores * 1000) / (floor.cpuMsPerRequest + bareCpu), floor.reqPerSec);
  return {
    description: `${what} ≥ ${Math.round(share * 100)} % of bare Fastify req/s`,
    met: reqPerSec >= needed,
    detail: ceiling
      ? `${detail}; ceiling ${Math.round(ceiling)} req/s = ${percent(ceiling)}: the lesser of ${cores} core(s) ÷ ` +
        `(floor ${floor.cpuMsPerRequest.toFixed(3)} + bare API and wrk ${bareCpu.toFixed(3)} CPU ms/req) and the floor's ` +
        `${Math.round(floor.reqPerSec)} req/s; /track reaches ${((reqPerSec / ceiling) * 100).toFixed(0)} % of it`
      : detail,
  };
}

async function guarded<T>(
  name: string,
  rows: CaseRow[],
  notes: string[],
  work: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`${name} failed: ${message}`);
    notes.push(`${name} crashed: ${message.split('\n')[0]}`);
    rows.push({ name, connections: settings.connections, note: `CRASHED: ${message.split('\n')[0]}` });
    return undefined;
  } finally {
    await cleanUp();
    cleaning = undefined;
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const loadStart = loadavg()[0]?.toFixed(2) ?? 'n/a';
  const rows: CaseRow[] = [];
  const notes: string[] = [];
  log(
    `load average ${loadStart}; duration ${settings.durationS} s, warm-up ${settings.warmupS} s, ${settings.connections} connections, ` +
      `${settings.pool} returning visitors, ${Math.round(settings.newRatio * 100)} % new visitors`,
  );
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/src/cli/main.js is missing: run `npm run build` first');

  const run = (name: string) => settings.cases.has(name);
  const baseline = run('bare') ? await guarded('bare Fastify', rows, notes, () => benchBare(rows, notes)) : undefined;
  const pg = run('postgres')
    ? ((await guarded('/track on PostgreSQL', rows, notes, () =>
        benchPostgres(rows, notes, { processes: 1, halfRate: true }),
      )) ?? {})
    : {};
  if (run('postgres-2proc'))
    await guarded('/track on PostgreSQL, 2 API processes', rows, notes, () =>
      benchPostgres(rows, notes, { processes: 2, halfRate: false }),
    );
  const pglite = run('pglite')
    ? await guarded('/track on PGlite', rows, notes, () => benchPglite(rows, notes))
    : undefined;
  if (run('bridge')) await guarded('Redis Streams bridge', rows, notes, () => benchBridge(rows, notes));
  if (run('identity')) await guarded('identity', rows, notes, () => benchIdentity(rows, notes));
  let condition: { figures?: ConditionFigures; note?: string } = { note: 'not selected in BENCH_CASES' };
  if (run('condition')) {
    try {
      condition = await benchConditionIfPresent();
    } catch (error) {
      condition = { note: `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
    }
  }

  const jobTargets: Target[] = [];
  if (run('workflow')) {
    const target = await guarded('workflow', rows, notes, () => benchWorkflow(rows, notes));
    if (target) jobTargets.push(target);
  }
  if (run('segmentation')) {
    log('segmentation job + worker over BENCH_SEGMENTATION_PROFILES (1M) profiles on PostgreSQL');
    const figures = await guarded('segmentation', rows, notes, () => benchSegmentation());
    if (figures) {
      const [first, second] = figures.runs;
      notes.push(
        `Segmentation (job + worker, in-process queue) over ${figures.profiles} profiles, one three-clause segment: ` +
          `${first?.seconds.toFixed(1)} s first run (${first?.members} members, ${first?.jobs} jobs), ${second?.seconds.toFixed(1)} s re-run with no change.`,
      );
      jobTargets.push({
        description: `segmentation over ${figures.profiles} profiles < ${figures.targetSeconds} s`,
        met: figures.met,
        detail: figures.runs.map((r) => `${r.seconds.toFixed(1)} s`).join(', '),
      });
    }
  }
  if (run('triggers')) {
    log('segment triggers: BENCH_TRIGGER_PROFILES (100,000) profiles enter a segment with one rule, on PostgreSQL');
    const figures = await guarded('triggers', rows, notes, () => benchTriggers());
    if (figures) notes.push(describeTriggers(figures));
  }
  if (run('scheduler')) {
    log('scheduler: BENCH_SCHEDULER_ITEMS (100,000) items due in the same minute, then a steady rate, on PostgreSQL');
    const figures = await guarded('scheduler', rows, notes, () => benchScheduler());
    if (figures) {
      notes.push(describeScheduler(figures));
      jobTargets.push(...schedulerTargets(figures));
    }
  }
  if (run('heartbeat')) {
    log('heartbeat job over BENCH_HEARTBEAT_SESSIONS (1M) sessions on PostgreSQL (several minutes)');
    const figures = await guarded('heartbeat', rows, notes, () => benchHeartbeat());
    if (figures) {
      const label = (r: HeartbeatRunFigure) => `${r.qualifyBy} ${r.kind}`;
      notes.push(
        `Heartbeat over ${figures.sessions} sessions (seeded in ${figures.seedSeconds.toFixed(0)} s) on a server with shared_buffers ${figures.server.sharedBuffers} ` +
          `and max_wal_size ${figures.server.maxWalSize}, the reference's cron examples ` +
          `(every 15 min, RANGE=now-1h|now): ` +
          figures.runs
            .map(
              (r) =>
                `${label(r)} ${r.seconds.toFixed(1)} s = ${r.vsBaseline.toFixed(1)}× its baseline of ${r.baselineSeconds.toFixed(1)} s (${r.registered} registered, ${r.inRange} in range)`,
            )
            .join('; ') +
          `. Baseline, measured just before each run: ${figures.baselineEvents} events stored with one INSERT … SELECT into an empty copy of the events table.`,
      );
      jobTargets.push({
        description: `heartbeat cron run over ${figures.sessions} sessions < ${figures.targetSeconds} s (shared_buffers ${figures.server.sharedBuffers})`,
        met: figures.met,
        detail: figures.runs.map((r) => `${label(r)} ${r.seconds.toFixed(1)} s`).join(', '),
      });
    }
  }
  if (run('import')) {
    log(`CSV import of BENCH_IMPORT_ROWS (${IMPORT_ROWS}) rows as events and as profiles, against COPY, on PostgreSQL`);
    const figures = await guarded('import', rows, notes, () => benchImport());
    if (figures) {
      notes.push(describeImport(figures));
      jobTargets.push(...importTargets(figures));
    }
  }

  const targets: Target[] = [
    pg.max && baseline
      ? shareTarget('/track on PostgreSQL', 1 / 3, pg.max.reqPerSec, baseline, pg.floor, cpus().length)
      : { description: '/track on PostgreSQL ≥ 1/3 of bare Fastify req/s', met: undefined, detail: 'not measured' },
    pg.half
      ? {
          description: 'p99 < 25 ms at half that rate',
          met: pg.half.latencyMs.p99 < 25 && failures(pg.half) === 0,
          detail: `p99 ${pg.half.latencyMs.p99} ms, p50 ${pg.half.latencyMs.p50} ms at ${Math.round(pg.half.reqPerSec)} req/s achieved`,
        }
      : { description: 'p99 < 25 ms at half that rate', met: undefined, detail: 'not measured' },
    ...(pglite && baseline ? [shareTarget('/track on PGlite', 0.2, pglite.reqPerSec, baseline, pglite.floor, 1)] : []),
    ...jobTargets,
  ];
  const failedCases = rows.filter((row) => (row.result ? failures(row.result) > 0 : row.figure === undefined));
  notes.unshift(
    `Load: one page-view event per request; ${Math.round(settings.newRatio * 100)} % new visitors (no profile), ` +
      `the rest a random profile+session of ${settings.pool} visitors created before the run; warm-up ${settings.warmupS} s; ` +
      `group commit GROUP_COMMIT_WAIT_MS=${process.env['GROUP_COMMIT_WAIT_MS'] ?? '2 (default)'}, ` +
      `GROUP_COMMIT_MAX_BATCH=${process.env['GROUP_COMMIT_MAX_BATCH'] ?? '256 (default)'}; in-process queue (no Redis).`,
  );
  notes.push(sourceState());
  notes.push(`Total bench time ${Math.round((Date.now() - started) / 1000)} s.`);

  const cpu = cpus();
  const report: Report = {
    date: new Date(),
    loadGenerator: generator.describe(),
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown CPU',
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadStart,
      loadEnd: loadavg()[0]?.toFixed(2) ?? 'n/a',
    },
    durationS: settings.durationS,
    rows,
    baselineReqPerSec: baseline?.reqPerSec,
    targets,
    condition,
    notes,
  };
  process.stdout.write(
    `\n${textTable(report)}\n\n${targetsText(report)}\n${conditionText(report)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
  );
  if (settings.write) {
    writeSection(BENCHMARKS_MD, markdownSection(report));
    log(`wrote ${BENCHMARKS_MD}`);
  }
  if (failedCases.length > 0) {
    log(`FAILED: ${failedCases.map((row) => row.name).join(', ')}`);
    return 1;
  }
  if (settings.strict && targets.some((target) => target.met === false)) return 1;
  return 0;
}

main().then(
  async (code) => {
    await cleanUp();
    process.exit(code);
  },
  async (error: unknown) => {
    log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanUp();
    process.exit(1);
  },
);
