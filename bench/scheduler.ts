/**
 * The scheduler on PostgreSQL (issue 19's measurements).
 *
 * Drain: BENCH_SCHEDULER_ITEMS items (100,000) due within the same minute, for 1,000 profiles, run by one
 * worker through the collect pipeline (target < 30 s); then the same table drained by a bare claim loop
 * (`UPDATE … RETURNING` in batches of 100, no work) in the same run, for the ratio.
 * Lateness: items falling due at BENCH_SCHEDULER_RATE per second (500) for BENCH_SCHEDULER_RATE_SECONDS
 * (20), each with its wake-up on the in-process queue, one worker; p99 of done time − due time (target < 1 s).
 * A case of `npm run bench` (`scheduler`), or alone: `node dist/bench/scheduler.js`. BENCH_POSTGRES_URL. The
 * database is dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { pino } from 'pino';
import { Composition } from '../src/cli/composition.js';
import { loadConfig } from '../src/config/config.js';
import { timeOrderedId } from '../src/shared/ids.js';
import type { NewScheduled } from '../src/scheduler/schedule.js';
import type { Target } from './report.js';
import {
  runDue,
  startSchedulerWorker,
  wakeScheduler,
  type SchedulerDeps,
  type SchedulerSettings,
} from '../src/scheduler/worker.js';

const DRAIN_TARGET_SECONDS = 30;
const LATENESS_TARGET_MS = 1_000;
const PROFILES = 1_000;

function envInteger(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: expected a positive whole number`);
  return value;
}

export interface SchedulerBench {
  items: number;
  drainSeconds: number;
  bareSeconds: number;
  rate: { perSecond: number; seconds: number; p99Ms: number; maxMs: number };
}

export async function benchScheduler(): Promise<SchedulerBench> {
  const adminUrl = process.env['BENCH_POSTGRES_URL']?.trim() || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const items = envInteger('BENCH_SCHEDULER_ITEMS', 100_000);
  const perSecond = envInteger('BENCH_SCHEDULER_RATE', 500);
  const rateSeconds = envInteger('BENCH_SCHEDULER_RATE_SECONDS', 20);
  const name = `meridian_bench_sched_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const logger = pino({ level: 'warn' });
  const root = await Composition.open(loadConfig({ DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' }), logger);
  try {
    const { db } = root;
    const { tracker } = root.tracking();
    const deps: SchedulerDeps = {
      scheduled: root.repositories.scheduled,
      collect: (payload, origin) => tracker.collect(payload, origin),
      queue: root.queue,
      logger,
    };
    const settings: SchedulerSettings = { ...root.config.scheduler, sweepMs: 3_600_000 };
    await db.query(`INSERT INTO profiles (id) SELECT 'bench-' || i FROM generate_series(1, $1::int) AS i`, [PROFILES]);
    // Due within the last minute: all of them overdue when the worker starts.
    await db.query(
      `INSERT INTO scheduled (id, kind, due_at, payload, profile_id)
       SELECT 'item-' || i, 'event', now() - make_interval(secs => (i % 60)::double precision),
              jsonb_build_object('profileId', 'bench-' || (i % $2 + 1), 'sourceId', 'scheduler',
                                 'event', jsonb_build_object('type', 'bench', 'properties', jsonb_build_object('i', i))),
              'bench-' || (i % $2 + 1)
         FROM generate_series(1, $1::int) AS i`,
      [items, PROFILES],
    );
    await db.query('ANALYZE scheduled');

    let started = performance.now();
    const ran = await runDue(deps, settings);
    const drainSeconds = (performance.now() - started) / 1000;
    if (ran !== items) throw new Error(`the worker ran ${ran} items of ${items}`);

    await db.query(`UPDATE scheduled SET state = 'pending', attempts = 0, done_at = NULL`);
    await db.query('VACUUM ANALYZE scheduled');
    started = performance.now();
    for (;;) {
      const claimed = await db.query(
        `UPDATE scheduled SET state = 'done', attempts = attempts + 1
         WHERE id IN (SELECT id FROM scheduled WHERE state = 'pending' AND due_at <= now()
                      ORDER BY due_at, id LIMIT 100 FOR UPDATE SKIP LOCKED)
         RETURNING id`,
      );
      if (claimed.length === 0) break;
    }
    const bareSeconds = (performance.now() - started) / 1000;

    // Steady rate: everything scheduled up front (with its wake-up), falling due from a few seconds on.
    const worker = startSchedulerWorker(deps, settings);
    const first = Date.now() + 3_000;
    const steady: NewScheduled[] = Array.from({ length: perSecond * rateSeconds }, (_, n) => ({
      id: timeOrderedId(),
      dueAt: new Date(first + Math.floor((n * 1000) / perSecond)),
      work: {
        kind: 'event',
        profileId: `bench-${(n % PROFILES) + 1}`,
        sourceId: 'scheduler',
        event: { type: 'steady', properties: {} },
      },
    }));
    await root.repositories.scheduled.add(steady);
    await wakeScheduler(deps, steady, new Date());
    for (;;) {
      const [row] = await db.query<{ n: unknown }>(
        `SELECT count(*) AS n FROM scheduled WHERE state <> 'done' AND id NOT LIKE 'item-%'`,
      );
      if (Number(row?.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await worker.close();
    const [late] = await db.query<{ p99: unknown; max: unknown }>(
      `SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY l) AS p99, max(l) AS max
         FROM (SELECT extract(epoch FROM done_at - due_at) * 1000 AS l FROM scheduled WHERE id NOT LIKE 'item-%') s`,
    );
    const rate = { perSecond, seconds: rateSeconds, p99Ms: Number(late?.p99), maxMs: Number(late?.max) };
    return { items, drainSeconds, bareSeconds, rate };
  } finally {
    await root.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 2 });
  }
}

/** One line for the bench's notes: the drain, its ratio to the bare claim loop, the lateness at a steady rate. */
export const describeScheduler = (figures: SchedulerBench): string =>
  `Scheduler on PostgreSQL: ${figures.items} items due in the same minute drained by one worker through the collect ` +
  `pipeline in ${figures.drainSeconds.toFixed(1)} s, ${(figures.drainSeconds / figures.bareSeconds).toFixed(1)}× a bare ` +
  `\`UPDATE … RETURNING\` claim loop over the same table in the same run (${figures.bareSeconds.toFixed(1)} s); ` +
  `lateness at ${figures.rate.perSecond} items/s for ${figures.rate.seconds} s: p99 ${figures.rate.p99Ms.toFixed(0)} ms, ` +
  `max ${figures.rate.maxMs.toFixed(0)} ms.`;

export const schedulerTargets = (figures: SchedulerBench): Target[] => [
  {
    description: `scheduler: ${figures.items} items due in the same minute drained by one worker < ${DRAIN_TARGET_SECONDS} s`,
    met: figures.drainSeconds < DRAIN_TARGET_SECONDS,
    detail:
      `${figures.drainSeconds.toFixed(1)} s, ${(figures.drainSeconds / figures.bareSeconds).toFixed(1)}× ` +
      `the bare claim loop (${figures.bareSeconds.toFixed(1)} s)`,
  },
  {
    description: `scheduler: lateness p99 < ${LATENESS_TARGET_MS} ms at ${figures.rate.perSecond} items/s`,
    met: figures.rate.p99Ms < LATENESS_TARGET_MS,
    detail: `p99 ${figures.rate.p99Ms.toFixed(0)} ms, max ${figures.rate.maxMs.toFixed(0)} ms`,
  },
];

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchScheduler();
  const targets = schedulerTargets(figures);
  process.stdout.write(
    [
      describeScheduler(figures),
      ...targets.map((target) => `${target.met ? 'met' : 'missed'}: ${target.description} — ${target.detail}`),
      '',
    ].join('\n'),
  );
  process.exitCode = targets.every((target) => target.met) ? 0 : 1;
}
