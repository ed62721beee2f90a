/**
 * Post-collection mapping: a backfill applies one mapping to the events already stored, in batches
 * consumed from `event_props_to_event_traits:worker` and `event_to_profile_coping:worker`.
 */
import { randomUUID } from 'node:crypto';
import { QueueUnavailableError, type Consumer, type Job, type JobQueue, type QueueConsumers } from '../queue/port.js';
import { DomainError, invalidInput, notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { MAPPING_KINDS, type MappingKind } from './mapping.js';
import type { BackfillBatch, BackfillRange, BackfillStore, MappingRepository } from './ports.js';

/** The reference spells it "coping"; the name is kept verbatim so it stays the same queue. */
export const EVENT_TO_PROFILE_COPYING = 'event_to_profile_coping:worker';
export const EVENT_PROPS_TO_EVENT_TRAITS = 'event_props_to_event_traits:worker';

export const QUEUE_OF: Record<MappingKind, string> = {
  'event-props-to-traits': EVENT_PROPS_TO_EVENT_TRAITS,
  'event-to-profile': EVENT_TO_PROFILE_COPYING,
};

/** Runs of one batch before its run is marked failed (a later resume picks the batch up again). */
export const BATCH_ATTEMPTS = 5;
export const DEFAULT_BATCH_SIZE = 500;

export interface BackfillDeps {
  mappings: MappingRepository;
  backfills: BackfillStore;
  queue: JobQueue;
  logger: Logger;
  /** Events per batch; DEFAULT_BATCH_SIZE when absent. */
  batchSize?: number;
}

/** Turns optional ISO date-times into a range, naming the offending field. */
export function parseBackfillRange(range: { from?: string; to?: string }): BackfillRange {
  const parse = (text: string | undefined, field: string) => {
    if (text === undefined) return undefined;
    const date = new Date(text);
    if (Number.isNaN(date.getTime()))
      throw invalidInput(`${field}: not a date-time`, [{ field, message: 'expected an ISO 8601 date-time' }]);
    return date;
  };
  const from = parse(range.from, 'from');
  const to = parse(range.to, 'to');
  if (from && to && from >= to)
    throw invalidInput('to: must be after from', [{ field: 'to', message: 'must be after from' }]);
  return { from, to };
}

async function enqueueBatches(queue: JobQueue, kind: MappingKind, batches: BackfillBatch[]): Promise<void> {
  if (batches.length === 0) return;
  await queue.enqueueBulk<BackfillBatch>(
    QUEUE_OF[kind],
    batches.map((data) => ({ data, opts: { attempts: BATCH_ATTEMPTS, backoffMs: 1000 } })),
  );
}

/**
 * Plans a backfill of one mapping over the events stored so far and enqueues its batches; returns
 * the job run id. Events stored later are mapped at collection time.
 */
export async function startBackfill(deps: BackfillDeps, mappingId: string, range: BackfillRange = {}): Promise<string> {
  const mapping = await deps.mappings.get(mappingId);
  if (!mapping) throw notFound('mapping');
  if (!mapping.enabled)
    throw new DomainError('mapping_disabled', `mapping "${mappingId}" is disabled; enable it to backfill`);
  const run = await deps.backfills.plan(randomUUID(), mapping, range, deps.batchSize ?? DEFAULT_BATCH_SIZE);
  const batches = Array.from({ length: run.batches }, (_, batch) => ({ runId: run.id, mappingId, batch }));
  try {
    await enqueueBatches(deps.queue, mapping.kind, batches);
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    // Failed rather than left waiting: nothing would queue its batches, and resuming it retries them.
    await deps.backfills.markFailed(run.id, `the job queue did not take the batches: ${error.message}`);
    throw new DomainError(
      'queue_unavailable',
      'the job queue is unreachable: the backfill was not started; try again when it is back',
    );
  }
  deps.logger.info(
    { run: run.id, mapping: mappingId, events: run.total, batches: run.batches },
    'mapping backfill started',
  );
  return run.id;
}

/**
 * One batch job. It reads the mapping as it is now, not as it was when the run started; a mapping
 * deleted or disabled meanwhile leaves the batch with nothing to do.
 */
export async function runBackfillBatch(
  deps: Pick<BackfillDeps, 'mappings' | 'backfills' | 'logger'>,
  job: Pick<Job<BackfillBatch>, 'data' | 'attempt'>,
): Promise<void> {
  const work = job.data;
  try {
    const mapping = await deps.mappings.get(work.mappingId);
    const outcome = await deps.backfills.runBatch(work, mapping?.enabled ? mapping : undefined);
    if (!outcome) deps.logger.debug({ ...work }, 'backfill batch already done: skipped');
    else if (outcome.errors > 0)
      deps.logger.warn({ ...work, ...outcome }, 'backfill batch done with events that could not be mapped');
  } catch (error) {
    if (job.attempt >= BATCH_ATTEMPTS)
      await deps.backfills.markFailed(work.runId, error instanceof Error ? error.message : String(error));
    throw error;
  }
}

/** Consumes both mapping queues. */
export function startMappingWorkers(
  deps: Pick<BackfillDeps, 'mappings' | 'backfills' | 'logger' | 'queue'>,
  options: { concurrency: number },
): Consumer {
  const consumers = Object.values(QUEUE_OF).map((queue) =>
    deps.queue.consume<BackfillBatch>(queue, (job) => runBackfillBatch(deps, job), {
      concurrency: options.concurrency,
    }),
  );
  return {
    close: async () => {
      await Promise.all(consumers.map((consumer) => consumer.close()));
    },
  };
}

/** The backfill consumers as a worker registers them. */
export const mappingConsumers: QueueConsumers<BackfillDeps, { concurrency: number }> = {
  queues: Object.values(QUEUE_OF),
  start: startMappingWorkers,
};

/**
 * Enqueues again every batch not done of every unfinished backfill, and clears their failures: for
 * the in-process queue after a restart (its jobs are gone), or to retry a failed run. Batches that
 * are still queued elsewhere run twice harmlessly, the second run finds them done.
 */
export async function resumeBackfills(deps: Pick<BackfillDeps, 'backfills' | 'queue' | 'logger'>): Promise<number> {
  const pending = await deps.backfills.reopenUnfinished();
  for (const kind of MAPPING_KINDS) {
    await enqueueBatches(
      deps.queue,
      kind,
      pending.filter((item) => item.kind === kind).map(({ kind: _, ...work }) => work),
    );
  }
  if (pending.length > 0) deps.logger.info({ batches: pending.length }, 'unfinished mapping backfills resumed');
  return pending.length;
}
