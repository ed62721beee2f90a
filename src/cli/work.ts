import { Command } from 'commander';
import { environmentHelp } from './help.js';
import { ConfigError, type Config } from '../config/config.js';
import {
  DateMathError,
  parseDateMath,
  parseDateRange,
  resolveDateMath,
  resolveDateRange,
} from '../shared/date-math.js';
import { parseBackfillRange, startBackfill } from '../mapping/backfill.js';
import {
  EVENT_PROPS_TO_EVENT_TRAITS,
  EVENT_TO_PROFILE_COPYING,
  KNOWN_QUEUES,
  SEGMENTATION_LIVE,
} from '../queue/names.js';
import type { JobQueue } from '../queue/port.js';
import { runSegmentationJob } from '../segmentation/job.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import { SqlJobRuns } from '../storage/sql-job-runs.js';
import { SqlMembership, SqlSegments } from '../storage/sql-segments.js';
import { untilQueuesIdle } from './queue-drain.js';
import {
  backfillDeps,
  DEFAULT_WORKER_OPTIONS,
  openDatabase,
  openQueue,
  SEGMENTATION_BATCH,
  startWorkers,
  WORKER_NAMES,
  type WorkerName,
} from './runtime.js';

type Action = (config: Config, logger: Logger) => Promise<void>;
type Run = (action: Action) => () => Promise<void>;

/** Opens store and queue for a one-shot command, migrated, and closes both afterwards. */
async function withBackends(
  config: Config,
  logger: Logger,
  work: (db: Database, queue: JobQueue) => Promise<void>,
): Promise<void> {
  const db = await openDatabase(config);
  const queue = openQueue(config, logger);
  try {
    await migrate(db);
    await work(db, queue);
  } finally {
    await queue.close();
    await db.close();
  }
}

/**
 * With Redis, a job only enqueues: `meridian worker` processes. Without it the queue lives in this
 * process, so the command runs the workers itself until the work is done.
 */
async function workHereWithoutRedis(
  config: Config,
  db: Database,
  queue: JobQueue,
  logger: Logger,
  queues: readonly string[],
): Promise<void> {
  if (config.redis) return;
  logger.info('no REDIS_HOST: running the work in this process');
  const workers = startWorkers(
    db,
    queue,
    logger,
    ['segmentation'],
    {
      ...DEFAULT_WORKER_OPTIONS,
      pendingIntervalMs: 0,
      resegmentSweepMs: 0,
      workflowSweepMs: 0,
    },
    { config },
  );
  try {
    await untilQueuesIdle(queue, queues, (pending) => logger.info({ pending }, 'working'));
  } finally {
    await workers.close();
  }
}

/** `--since` (date math or ISO) wins over RANGE (FROM|TO); neither means every profile. */
export function profileWindow(
  since: string | undefined,
  range: string | undefined,
  now: Date,
): { updatedSince?: Date; updatedBefore?: Date } {
  try {
    if (since !== undefined) return { updatedSince: resolveDateMath(parseDateMath(since), now) };
    if (range === undefined || range.trim() === '') return {};
    const { from, to } = resolveDateRange(parseDateRange(range), now);
    return { updatedSince: from, updatedBefore: to };
  } catch (error) {
    if (error instanceof DateMathError) throw new ConfigError(since !== undefined ? '--since' : 'RANGE', error.message);
    throw error;
  }
}

/** Enqueues `segmentation:live` work for every enabled segment (or runs it, without Redis). */
export async function runSegmentationCommand(
  config: Config,
  logger: Logger,
  window: { updatedSince?: Date; updatedBefore?: Date },
): Promise<void> {
  await withBackends(config, logger, async (db, queue) => {
    const report = await runSegmentationJob(
      { segments: new SqlSegments(db), membership: new SqlMembership(db), queue, logger },
      { batchSize: SEGMENTATION_BATCH, ...window },
    );
    await workHereWithoutRedis(config, db, queue, logger, [SEGMENTATION_LIVE]);
    process.stdout.write(
      `segmentation: ${report.segments} segments, ${report.jobs} jobs ${config.redis ? 'enqueued' : 'done'}\n`,
    );
  });
}

export function segmentationJobCommand(run: Run): Command {
  return new Command('segmentation')
    .description('re-decide every enabled segment: enqueue segmentation:live work in batches of profiles, then exit')
    .option('--since <when>', 'only profiles updated since (date math like now-1h, or ISO); default: RANGE, else all')
    .action((options: { since?: string }) =>
      run((config, logger) =>
        runSegmentationCommand(config, logger, profileWindow(options.since, process.env['RANGE'], new Date())),
      )(),
    );
}

export function workerCommand(run: Run): Command {
  return new Command('worker')
    .description(
      `queue consumers: ${WORKER_NAMES.join(', ')} (segmentation & mapping: ${KNOWN_QUEUES.join(', ')}), or all`,
    )
    .argument('<names...>', `${WORKER_NAMES.join(' | ')} | all`)
    .option('--concurrency <n>', 'jobs at once per queue', '2')
    .addHelpText('after', environmentHelp('server'))
    .action((names: string[], options: { concurrency: string }) =>
      run(async (config, logger) => {
        const selected = names.includes('all') ? [...WORKER_NAMES] : names;
        const unknown = selected.filter((name) => !(WORKER_NAMES as readonly string[]).includes(name));
        if (unknown.length > 0)
          throw new ConfigError(
            'worker',
            `unknown worker ${unknown.join(', ')}; expected ${WORKER_NAMES.join(', ')} or all`,
          );
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new ConfigError('--concurrency', 'expected a whole number ≥ 1');
        if (!config.redis)
          logger.warn(
            'no REDIS_HOST: this worker sees only work queued in its own process (post-event segmentation still runs)',
          );
        const db = await openDatabase(config);
        const queue = openQueue(config, logger);
        await migrate(db);
        const workers = startWorkers(
          db,
          queue,
          logger,
          selected as WorkerName[],
          {
            ...DEFAULT_WORKER_OPTIONS,
            concurrency,
          },
          { config },
        );
        logger.info({ workers: selected, concurrency }, 'workers started');
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        logger.info('stopping workers: letting running jobs finish');
        await workers.close();
        await queue.close();
        await db.close();
      })(),
    );
}

export function mappingCommand(run: Run): Command {
  const mapping = new Command('mapping').description('post-collection mapping');
  mapping
    .command('backfill')
    .description(
      'apply a mapping to stored events of its type (event_props_to_event_traits:worker or event_to_profile_coping:worker)',
    )
    .argument('<mapping-id>')
    .option('--from <iso>', 'events that occurred at or after')
    .option('--to <iso>', 'events that occurred before')
    .action((mappingId: string, options: { from?: string; to?: string }) =>
      run((config, logger) =>
        withBackends(config, logger, async (db, queue) => {
          const runId = await startBackfill(backfillDeps(db, queue, logger), mappingId, parseBackfillRange(options));
          await workHereWithoutRedis(config, db, queue, logger, [
            EVENT_PROPS_TO_EVENT_TRAITS,
            EVENT_TO_PROFILE_COPYING,
          ]);
          const state = await new SqlJobRuns(db).get(runId);
          process.stdout.write(`${JSON.stringify(state)}\n`);
        }),
      )(),
    );
  return mapping;
}
