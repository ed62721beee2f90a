/**
 * Segmentation over 1M profiles on PostgreSQL, job + worker end to end (target < 10 s).
 *
 * Seeds BENCH_SEGMENTATION_PROFILES profiles (1M) set-based with traits and visit counts, creates one
 * segment with a three-clause condition, then times `runSegmentationJob` (enqueue id-range batches
 * on segmentation:live) plus the segmentation worker draining the queue (in-process queue, so the
 * figure is the database's work, not Redis'). A second run, where nothing changes, follows: the cost
 * of re-deciding a segment whose members are stable. The database is dropped afterwards.
 * Standalone: `node dist/bench/segmentation.js`. BENCH_POSTGRES_URL, BENCH_SEGMENTATION_PROFILES.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { pino } from 'pino';
import { MemoryJobQueue } from '../src/queue/memory.js';
import { runSegmentationJob, SEGMENTATION_BATCH, SEGMENTATION_LIVE } from '../src/segmentation/job.js';
import { startSegmentationWorker } from '../src/segmentation/worker.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlMembership, SqlSegments } from '../src/storage/sql-segments.js';
import { untilQueuesIdle } from '../src/cli/queue-drain.js';

const TARGET_SECONDS = 10;
const CONDITION =
  'profile@traits.spent > 500 AND profile@metadata.time.visit.count >= 3 AND profile@traits.country == "PL"';

export interface SegmentationBench {
  profiles: number;
  seedSeconds: number;
  runs: { seconds: number; members: number; jobs: number }[];
  targetSeconds: number;
  met: boolean;
}

export async function benchSegmentation(): Promise<SegmentationBench> {
  const adminUrl = process.env['BENCH_POSTGRES_URL']?.trim() || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const profiles = Number(process.env['BENCH_SEGMENTATION_PROFILES'] ?? 1_000_000);
  if (!Number.isInteger(profiles) || profiles < 1)
    throw new Error('BENCH_SEGMENTATION_PROFILES: expected a positive whole number');
  const name = `meridian_bench_seg_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = connectPostgres({ url: url.toString(), schema: 'meridian_test', maxConnections: 4 });
  const logger = pino({ level: 'warn' });
  try {
    await migrate(db);
    const seedStarted = performance.now();
    await db.query(
      `INSERT INTO profiles (id, visits, traits)
       SELECT md5(i::text), i % 7, jsonb_build_object('spent', (i * 37) % 1000, 'country', (ARRAY['PL','DE','FR','ES'])[i % 4 + 1])
         FROM generate_series(1, $1::int) AS i`,
      [profiles],
    );
    await db.query('ANALYZE');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const segments = new SqlSegments(db);
    const membership = new SqlMembership(db);
    const segment = (await segments.create({
      id: 'bench',
      name: 'Bench',
      machineName: 'bench',
      description: '',
      condition: CONDITION,
      enabled: true,
      eventTypes: [],
    }))!;
    const runs: SegmentationBench['runs'] = [];
    for (let run = 0; run < 2; run++) {
      const queue = new MemoryJobQueue({ logger });
      const deps = { queue, segments, membership, logger };
      const started = performance.now();
      const report = await runSegmentationJob(deps, {
        batchSize: Number(process.env['BENCH_SEGMENTATION_BATCH'] ?? SEGMENTATION_BATCH),
      });
      const worker = startSegmentationWorker(deps, {
        concurrency: 2,
        pendingIntervalMs: 0,
        pendingBatch: 500,
        resegmentSweepMs: 0,
        resegmentBatch: SEGMENTATION_BATCH,
      });
      await untilQueuesIdle(queue, [SEGMENTATION_LIVE], () => {});
      const seconds = (performance.now() - started) / 1000;
      await worker.close();
      await queue.close();
      runs.push({ seconds, members: await segments.memberCount(segment.id), jobs: report.jobs });
    }
    return {
      profiles,
      seedSeconds,
      runs,
      targetSeconds: TARGET_SECONDS,
      met: runs.every((run) => run.seconds < TARGET_SECONDS),
    };
  } finally {
    await db.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 2 });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchSegmentation();
  process.stdout.write(
    [
      `segmentation over ${figures.profiles} profiles (seeded in ${figures.seedSeconds.toFixed(1)} s), condition: ${CONDITION}`,
      ...figures.runs.map(
        (run, index) =>
          `  ${index === 0 ? 'first run' : 'second run (no change)'}: ${run.seconds.toFixed(2)} s, ${run.jobs} jobs, ${run.members} members`,
      ),
      `target < ${figures.targetSeconds} s: ${figures.met ? 'met' : 'missed'}`,
      '',
    ].join('\n'),
  );
  process.exitCode = figures.met ? 0 : 1;
}
