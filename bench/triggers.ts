/**
 * Segment triggers on PostgreSQL: BENCH_TRIGGER_PROFILES profiles (100,000) enter one segment that has
 * one `segment-entered` rule (a 3-node flow). Timed from the segmentation job's start until the trigger
 * worker has recorded every run, beside the same segmentation with the rule disabled (the outbox drained
 * without starting anything): the ratio is what recording the runs costs. Running the flows is the
 * workflow worker's and is not part of this figure. The database is dropped afterwards.
 * Standalone: `node dist/bench/triggers.js`. BENCH_POSTGRES_URL, BENCH_TRIGGER_PROFILES.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { pino } from 'pino';
import { untilQueuesIdle } from '../src/cli/queue-drain.js';
import { MemoryJobQueue } from '../src/queue/memory.js';
import { runSegmentationJob, SEGMENTATION_BATCH, SEGMENTATION_LIVE } from '../src/segmentation/job.js';
import { startSegmentationWorker } from '../src/segmentation/worker.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlMembership, SqlSegments } from '../src/storage/sql-segments.js';
import { SqlTriggers } from '../src/storage/sql-triggers.js';
import { startTriggerWorker, TRIGGER_BATCH } from '../src/triggers/worker.js';

const GRAPH = {
  nodes: [
    { id: 'start', action: 'start', config: {} },
    { id: 'tag', action: 'set-value', config: { path: 'profile@traits.welcomed', value: true } },
    { id: 'end', action: 'end', config: {} },
  ],
  edges: [
    { from: { node: 'start', port: 'payload' }, to: { node: 'tag' } },
    { from: { node: 'tag', port: 'payload' }, to: { node: 'end' } },
  ],
};

export interface TriggerBench {
  profiles: number;
  /** Seconds until every run is recorded, with the rule. */
  withRuleSeconds: number;
  runs: number;
  /** Seconds until the outbox is drained, the rule disabled. */
  drainOnlySeconds: number;
  ratio: number;
}

export async function benchTriggers(): Promise<TriggerBench> {
  const adminUrl = process.env['BENCH_POSTGRES_URL']?.trim() || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const profiles = Number(process.env['BENCH_TRIGGER_PROFILES'] ?? 100_000);
  if (!Number.isInteger(profiles) || profiles < 1)
    throw new Error('BENCH_TRIGGER_PROFILES: expected a positive whole number');
  const name = `meridian_bench_trg_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = connectPostgres({ url: url.toString(), schema: 'meridian_test', maxConnections: 4 });
  const logger = pino({ level: 'warn' });
  try {
    await migrate(db);
    await db.query(
      `INSERT INTO profiles (id, traits) SELECT md5(i::text), jsonb_build_object('spent', i % 1000)
         FROM generate_series(1, $1::int) AS i`,
      [profiles],
    );
    await db.query(`INSERT INTO flows (id, name, type, graph) VALUES ('welcome', 'welcome', 'segmentation', $1)`, [
      JSON.stringify(GRAPH),
    ]);
    await db.query(
      `INSERT INTO rules (id, name, kind, segment_id, flow_id, created_at)
       VALUES ('on-enter', 'on enter', 'segment-entered', 'bench', 'welcome', now() - interval '1 day')`,
    );
    await db.query('ANALYZE');
    const segments = new SqlSegments(db);
    const membership = new SqlMembership(db);
    const triggers = new SqlTriggers(db);
    await segments.create({
      id: 'bench',
      name: 'Bench',
      machineName: 'bench',
      description: '',
      condition: 'profile@traits.spent >= 0',
      enabled: true,
      eventTypes: [],
    });

    const measure = async (ruleEnabled: boolean): Promise<number> => {
      await db.query('DELETE FROM workflow_runs');
      await db.query('DELETE FROM segment_changes');
      await db.query('DELETE FROM segment_members');
      await db.query(`UPDATE profiles SET segments = '{}' WHERE segments <> '{}'`);
      await db.query('UPDATE rules SET enabled = $1', [ruleEnabled]);
      await db.query('VACUUM ANALYZE');
      const queue = new MemoryJobQueue({ logger });
      const deps = { queue, segments, membership, logger };
      const started = performance.now();
      const trigger = startTriggerWorker({ triggers, queue, logger }, { intervalMs: 20, batch: TRIGGER_BATCH });
      await runSegmentationJob(deps, { batchSize: SEGMENTATION_BATCH });
      const segmentation = startSegmentationWorker(deps, {
        concurrency: 2,
        pendingIntervalMs: 0,
        pendingBatch: 500,
        resegmentSweepMs: 0,
        resegmentBatch: SEGMENTATION_BATCH,
      });
      await untilQueuesIdle(queue, [SEGMENTATION_LIVE], () => {});
      while ((await triggers.backlog()).unconsumed > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const seconds = (performance.now() - started) / 1000;
      await Promise.all([segmentation.close(), trigger.close()]);
      await queue.close();
      return seconds;
    };

    const drainOnlySeconds = await measure(false);
    const withRuleSeconds = await measure(true);
    const [counted] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM workflow_runs');
    return {
      profiles,
      withRuleSeconds,
      runs: counted!.n,
      drainOnlySeconds,
      ratio: withRuleSeconds / drainOnlySeconds,
    };
  } finally {
    await db.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 2 });
  }
}

export const describeTriggers = (figures: TriggerBench): string =>
  `Segment triggers: ${figures.profiles} profiles enter a segment with one segment-entered rule (3-node flow), ` +
  `segmentation job + worker + trigger worker (in-process queue): ${figures.withRuleSeconds.toFixed(1)} s until ` +
  `${figures.runs} runs were recorded, ${figures.ratio.toFixed(2)}× the ${figures.drainOnlySeconds.toFixed(1)} s of ` +
  `the same segmentation with the outbox drained and no rule enabled.`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${describeTriggers(await benchTriggers())}\n`);
}
