/**
 * The heartbeat job over 1M sessions on PostgreSQL (target: one run < 10 s).
 *
 * Seeds a fresh database set-based (generate_series): BENCH_HEARTBEAT_SESSIONS sessions (1M) on half
 * as many profiles, each with its visit-started event, last active spread evenly (in shuffled order)
 * over the past hour. Then
 * times one `inactive-session` run and one `visit-end` run with the reference's settings
 * (RANGE=now-1h|now, SKIP_SECONDS=900): about three quarters of the sessions are due in each (the
 * worst case: a first run over a full hour). A final re-run of inactive-session finds nothing new, so
 * its time is the cost of scanning 1M sessions alone.
 * The database is dropped afterwards. Standalone: `node dist/bench/heartbeat.js`.
 * Environment: BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/postgres), BENCH_HEARTBEAT_SESSIONS.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { pino } from 'pino';
import { loadHeartbeatConfig } from '../src/config/config.js';
import { runHeartbeat, type HeartbeatReport } from '../src/heartbeat/job.js';
import type { QualifyBy } from '../src/heartbeat/options.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlDueSessions } from '../src/storage/sql-heartbeat.js';
import { SqlTrackingStore } from '../src/storage/sql-tracking-store.js';

export interface HeartbeatRunFigure {
  qualifyBy: QualifyBy;
  /** A re-run finds nothing new: its time is the cost of scanning alone. */
  rerun: boolean;
  scanned: number;
  due: number;
  registered: number;
  seconds: number;
}

export interface HeartbeatBench {
  sessions: number;
  seedSeconds: number;
  runs: HeartbeatRunFigure[];
  targetSeconds: number;
  /** Every run finished within the target. */
  met: boolean;
}

const TARGET_SECONDS = 10;

export async function benchHeartbeat(): Promise<HeartbeatBench> {
  const adminUrl = process.env['BENCH_POSTGRES_URL']?.trim() || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const sessions = Number(process.env['BENCH_HEARTBEAT_SESSIONS'] ?? 1_000_000);
  if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`BENCH_HEARTBEAT_SESSIONS: expected a positive whole number`);
  const name = `meridian_bench_hb_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = connectPostgres({ url: url.toString(), schema: 'meridian_test' });
  try {
    await migrate(db);
    const seedStarted = performance.now();
    await db.query(`INSERT INTO profiles (id) SELECT 'p' || i FROM generate_series(1, $1::int / 2 + 1) AS i`, [sessions]);
    await db.query(
      `INSERT INTO sessions (id, profile_id, source_id, visit_started_at, created_at, last_event_at)
       SELECT 's' || i, 'p' || (i / 2 + 1), 'bench', t, t, t
         FROM (SELECT i, now() - make_interval(secs => 3600.0 * ((i::bigint * 7919) % $1) / $1) AS t
                 FROM generate_series(1, $1::int) AS i) AS spread`,
      [sessions],
    );
    await db.query(
      `INSERT INTO events (id, type, profile_id, session_id, source_id, occurred_at, inserted_at)
       SELECT 'e' || id, 'visit-started', profile_id, id, source_id, visit_started_at, visit_started_at FROM sessions`,
    );
    await db.exec('VACUUM ANALYZE');
    const seedSeconds = (performance.now() - seedStarted) / 1000;

    const services = { sessions: new SqlDueSessions(db), events: new SqlTrackingStore(db), logger: pino({ level: 'silent' }) };
    const settings = loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900' });
    const runs: HeartbeatRunFigure[] = [];
    // One clock for all runs, so the re-run sees the same inactivity and has nothing new to register.
    const now = new Date();
    const sequence = [['inactive-session', false], ['visit-end', false], ['inactive-session', true]] as const;
    for (const [qualifyBy, rerun] of sequence) {
      const report: HeartbeatReport = await runHeartbeat({ qualifyBy, settings, now }, services);
      runs.push({ qualifyBy, rerun, scanned: report.scanned, due: report.due, registered: report.registered, seconds: report.elapsedMs / 1000 });
    }
    return { sessions, seedSeconds, runs, targetSeconds: TARGET_SECONDS, met: runs.every((run) => run.seconds < TARGET_SECONDS) };
  } finally {
    await db.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 1 });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchHeartbeat();
  process.stdout.write(`heartbeat over ${result.sessions.toLocaleString('en')} sessions (seeded in ${result.seedSeconds.toFixed(1)} s):\n`);
  for (const run of result.runs) {
    process.stdout.write(
      `  ${`${run.qualifyBy}${run.rerun ? ' (re-run)' : ''}`.padEnd(27)} scanned ${run.scanned}, due ${run.due}, registered ${run.registered} in ${run.seconds.toFixed(2)} s (target < ${result.targetSeconds} s)\n`,
    );
  }
  process.exitCode = result.met ? 0 : 1;
}
