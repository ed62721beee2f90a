import { Command } from 'commander';
import { environmentHelp } from './help.js';
import { ConfigError, loadJobConfig, type Config } from '../config/config.js';
import {
  DateMathError,
  parseDateMath,
  resolveDateMath,
  resolveDateRange,
  type DateRange,
} from '../shared/date-math.js';
import { mappingConsumers, parseBackfillRange, startBackfill } from '../mapping/backfill.js';
import { runSegmentationJob, SEGMENTATION_BATCH, SEGMENTATION_LIVE } from '../segmentation/job.js';
import type { Logger } from '../shared/logger.js';
import { Composition } from './composition.js';
import { untilQueuesIdle } from './queue-drain.js';
import type { Run } from './run.js';
import { DEFAULT_WORKER_OPTIONS, selectWorkers, WORKERS, workersFor } from './workers.js';

/** Opens what a one-shot command needs, migrated, and closes it afterwards. */
async function withComposition(
  config: Config,
  logger: Logger,
  work: (root: Composition) => Promise<void>,
): Promise<void> {
  const root = await Composition.open(config, logger);
  try {
    await work(root);
  } finally {
    await root.close();
  }
}

/**
 * With Redis, a job only enqueues: `meridian worker` processes. Without it the queue lives in this
 * process, so the command runs the workers of those queues itself until the work is done.
 */
async function workHereWithoutRedis(root: Composition, queues: readonly string[]): Promise<void> {
  if (root.config.redis) return;
  root.logger.info('no REDIS_HOST: running the work in this process');
  const workers = root.startWorkers(workersFor(queues), {
    ...DEFAULT_WORKER_OPTIONS,
    pendingIntervalMs: 0,
    resegmentSweepMs: 0,
  });
  try {
    await untilQueuesIdle(root.queue, queues, (pending) => root.logger.info({ pending }, 'working'));
  } finally {
    await workers.close();
  }
}

/** `--since` (date math or ISO) wins over RANGE (FROM|TO); neither means every profile. */
export function profileWindow(
  since: string | undefined,
  range: DateRange | undefined,
  now: Date,
): { updatedSince?: Date; updatedBefore?: Date } {
  if (since !== undefined) {
    try {
      return { updatedSince: resolveDateMath(parseDateMath(since), now) };
    } catch (error) {
      if (error instanceof DateMathError) throw new ConfigError('--since', error.message);
      throw error;
    }
  }
  if (range === undefined) return {};
  const { from, to } = resolveDateRange(range, now);
  return { updatedSince: from, updatedBefore: to };
}

/** Enqueues `segmentation:live` work for every enabled segment and segmentation flow (or does it, without Redis). */
export async function runSegmentationCommand(
  config: Config,
  logger: Logger,
  window: { updatedSince?: Date; updatedBefore?: Date },
): Promise<void> {
  await withComposition(config, logger, async (root) => {
    const { segments, membership, flows } = root.repositories;
    const report = await runSegmentationJob(
      { segments, membership, flows, queue: root.queue, logger },
      { batchSize: SEGMENTATION_BATCH, ...window },
    );
    await workHereWithoutRedis(root, [SEGMENTATION_LIVE]);
    process.stdout.write(
      `segmentation: ${report.segments} segments, ${report.flows} flows, ${report.jobs} jobs ${config.redis ? 'enqueued' : 'done'} (job run ${report.jobRunId})\n`,
    );
  });
}

export function segmentationJobCommand(run: Run): Command {
  return new Command('segmentation')
    .description(
      're-decide every enabled segment and run every enabled segmentation flow per profile: enqueue segmentation:live work in batches of profiles, then exit',
    )
    .option('--since <when>', 'only profiles updated since (date math like now-1h, or ISO); default: RANGE, else all')
    .action((options: { since?: string }) =>
      run((config, logger, env) =>
        runSegmentationCommand(config, logger, profileWindow(options.since, loadJobConfig(env).range, new Date())),
      )(),
    );
}

// A worker on a timer only (trigger) has no queue to name.
const workersHelp = WORKERS.map((each) =>
  each.queues.length > 0 ? `${each.name} (${each.queues.join(', ')})` : each.name,
).join('; ');

export function workerCommand(run: Run): Command {
  return new Command('worker')
    .description(`queue consumers: ${workersHelp}; or all`)
    .argument('<names...>', `${WORKERS.map((each) => each.name).join(' | ')} | all`)
    .option('--concurrency <n>', 'jobs at once per queue', '2')
    .addHelpText('after', environmentHelp('server'))
    .action((names: string[], options: { concurrency: string }) =>
      run(async (config, logger) => {
        const selected = selectWorkers(names);
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new ConfigError('--concurrency', 'expected a whole number ≥ 1');
        if (!config.redis)
          logger.warn(
            'no REDIS_HOST: this worker sees only work queued in its own process (post-event segmentation and the scheduler, which reads its items from the store, still run)',
          );
        const root = await Composition.open(config, logger);
        root.startWorkers(selected, { ...DEFAULT_WORKER_OPTIONS, concurrency });
        root.startDataMigrations();
        logger.info({ workers: selected.map((each) => each.name), concurrency }, 'workers started');
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        logger.info('stopping workers: letting running jobs finish');
        await root.close();
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
        withComposition(config, logger, async (root) => {
          const runId = await startBackfill(root.backfillDeps(), mappingId, parseBackfillRange(options));
          await workHereWithoutRedis(root, mappingConsumers.queues);
          const state = await root.repositories.jobRuns.get(runId);
          process.stdout.write(`${JSON.stringify(state)}\n`);
        }),
      )(),
    );
  return mapping;
}
