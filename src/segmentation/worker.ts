import type { Consumer, JobQueue, QueueConsumers } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import { runEvery } from '../shared/timer-loop.js';
import type { WorkflowExecution } from '../workflow/executor.js';
import type { FlowRepository } from '../workflow/ports.js';
import { runFlowSegmentation, type FlowSegmentationWork, type SegmentationRunStore } from '../workflow/segmentation.js';
import {
  isFlowWork,
  queueAwaitingResegments,
  SEGMENTATION_BATCH,
  SEGMENTATION_LIVE,
  type SegmentationWork,
  type SegmentWork,
} from './job.js';
import type { MembershipStore, SegmentRepository } from './ports.js';
import { SegmentRunError } from './segment.js';

export interface SegmentationWorkerOptions {
  concurrency: number;
  /** How often profiles changed by tracking are re-segmented; 0 switches that loop off. */
  pendingIntervalMs: number;
  pendingBatch: number;
  /**
   * How often re-decisions that saves could not queue (the job queue was down) are queued; 0
   * switches that loop off. A save gets this long to queue its own before the worker steps in.
   */
  resegmentSweepMs: number;
  /** Profiles per `segmentation:live` job the sweep queues. */
  resegmentBatch: number;
}

export interface SegmentationWorkerDeps {
  queue: JobQueue;
  segments: SegmentRepository;
  membership: MembershipStore;
  logger: Logger;
  clock?: () => Date;
  /** What segmentation flows run with; work for a flow fails (and is retried by the queue) without them. */
  flows?: Pick<FlowRepository, 'get'>;
  segmentationRuns?: SegmentationRunStore;
  workflow?: WorkflowExecution;
}

function reportFailure(deps: SegmentationWorkerDeps, failure: SegmentRunError): void {
  deps.logger.error(
    { segment: failure.segmentId, err: failure.cause ?? failure },
    `segment marked failed: ${failure.message}`,
  );
}

/** Runs one `segmentation:live` job: decides one segment, or runs one flow, over one slice of profiles. */
export async function runSegmentationWork(deps: SegmentationWorkerDeps, work: SegmentationWork): Promise<void> {
  if (isFlowWork(work)) await runFlowWork(deps, work);
  else await runSegmentWork(deps, work);
}

async function runFlowWork(deps: SegmentationWorkerDeps, work: FlowSegmentationWork): Promise<void> {
  const { flows, segmentationRuns, workflow } = deps;
  if (!flows || !segmentationRuns || !workflow) throw new Error('this segmentation worker cannot run flows');
  const report = await runFlowSegmentation(
    { ...workflow, flows, segmentationRuns, logger: deps.logger, ...(deps.clock ? { clock: deps.clock } : {}) },
    work,
  );
  deps.logger.info(
    { flow: work.flowId, jobRunId: work.jobRunId, fromId: work.selection.fromId, ...report },
    'segmentation flow ran over a slice of profiles',
  );
}

async function runSegmentWork(deps: SegmentationWorkerDeps, work: SegmentWork): Promise<void> {
  const segment = await deps.segments.get(work.segmentId);
  if (!segment || !segment.enabled) {
    deps.logger.info({ segment: work.segmentId }, 'segment gone or disabled: work skipped');
    return;
  }
  const now = (deps.clock ?? (() => new Date()))();
  try {
    const changes = await deps.membership.apply(segment, work.selection, now);
    await deps.segments.markRun(segment.id, now);
    if (changes.entered + changes.left > 0)
      deps.logger.debug({ segment: segment.id, ...changes }, 'segment membership changed');
  } catch (error) {
    // Running it again would fail again: the job is done, the segment carries the failure.
    if (!(error instanceof SegmentRunError)) throw error;
    await deps.segments.markFailed(segment.id, segment.condition, error.message, now);
    reportFailure(deps, error);
  }
}

/**
 * Re-segments what tracking changed until the pending list is empty; returns how many profiles.
 * Failed segments are left out (saving one again, or a segmentation job, brings it back), so one
 * segment that cannot run never holds back the others.
 */
export async function drainPending(deps: SegmentationWorkerDeps, batch: number): Promise<number> {
  let segments = (await deps.segments.listEnabled()).filter((segment) => !segment.failure);
  let total = 0;
  for (;;) {
    const result = await deps.membership.recheckPending(batch, segments, (deps.clock ?? (() => new Date()))());
    total += result.profiles;
    for (const failure of result.failures) reportFailure(deps, failure);
    const failed = new Set(result.failures.map((failure) => failure.segmentId));
    segments = segments.filter((segment) => !failed.has(segment.id));
    if (result.profiles < batch) return total;
  }
}

/**
 * The segmentation worker: consumes `segmentation:live`; on one timer re-segments the profiles
 * tracking changed (post-event segmentation), on another queues the re-decisions saves could not.
 */
export function startSegmentationWorker(deps: SegmentationWorkerDeps, options: SegmentationWorkerOptions): Consumer {
  const consumer = deps.queue.consume<SegmentationWork>(
    SEGMENTATION_LIVE,
    (job) => runSegmentationWork(deps, job.data),
    {
      concurrency: options.concurrency,
    },
  );
  const postEvent = runEvery(
    options.pendingIntervalMs,
    async () => {
      const profiles = await drainPending(deps, options.pendingBatch);
      if (profiles > 0) deps.logger.debug({ profiles }, 'post-event segmentation');
    },
    deps.logger,
    'post-event segmentation failed; will retry',
  );
  const sweep = runEvery(
    options.resegmentSweepMs,
    () => queueAwaitingResegments(deps, { graceMs: options.resegmentSweepMs, batchSize: options.resegmentBatch }),
    deps.logger,
    'could not look for segmentation to queue; will retry',
  );
  return {
    close: async () => {
      await Promise.all([consumer.close(), postEvent.stop(), sweep.stop()]);
    },
  };
}

/** Profiles re-segmented per transaction of post-event segmentation. */
const PENDING_BATCH = 500;

/** The segmentation worker as a worker registers it: its queue, and its timers' periods from the role. */
export const segmentationConsumers: QueueConsumers<
  SegmentationWorkerDeps,
  Pick<SegmentationWorkerOptions, 'concurrency' | 'pendingIntervalMs' | 'resegmentSweepMs'>
> = {
  queues: [SEGMENTATION_LIVE],
  start: (deps, options) =>
    startSegmentationWorker(deps, { ...options, pendingBatch: PENDING_BATCH, resegmentBatch: SEGMENTATION_BATCH }),
};
