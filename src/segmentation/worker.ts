import type { Consumer, JobQueue } from '../queue/port.js';
import { SEGMENTATION_LIVE } from '../queue/names.js';
import type { Logger } from '../shared/logger.js';
import type { SegmentationWork } from './job.js';
import type { MembershipStore, SegmentRepository } from './ports.js';

export interface SegmentationWorkerOptions {
  concurrency: number;
  /** How often profiles changed by tracking are re-segmented; 0 switches that loop off. */
  pendingIntervalMs: number;
  pendingBatch: number;
}

export interface SegmentationWorkerDeps {
  queue: JobQueue;
  segments: SegmentRepository;
  membership: MembershipStore;
  logger: Logger;
  clock?: () => Date;
}

/** Runs one `segmentation:live` job: decides one segment over one slice of profiles. */
export async function runSegmentationWork(deps: SegmentationWorkerDeps, work: SegmentationWork): Promise<void> {
  const segment = await deps.segments.get(work.segmentId);
  if (!segment || !segment.enabled) {
    deps.logger.info({ segment: work.segmentId }, 'segment gone or disabled: work skipped');
    return;
  }
  const now = (deps.clock ?? (() => new Date()))();
  const changes = await deps.membership.apply(segment, work.selection, now);
  await deps.segments.markRun(segment.id, now);
  if (changes.entered + changes.left > 0) deps.logger.debug({ segment: segment.id, ...changes }, 'segment membership changed');
}

/** Re-segments what tracking changed until the pending list is empty; returns how many profiles. */
export async function drainPending(deps: SegmentationWorkerDeps, batch: number): Promise<number> {
  const segments = await deps.segments.listEnabled();
  let total = 0;
  for (;;) {
    const result = await deps.membership.recheckPending(batch, segments, (deps.clock ?? (() => new Date()))());
    total += result.profiles;
    if (result.profiles < batch) return total;
  }
}

/**
 * The segmentation worker: consumes `segmentation:live` and, on a timer, re-segments the profiles
 * tracking changed (post-event segmentation).
 */
export function startSegmentationWorker(deps: SegmentationWorkerDeps, options: SegmentationWorkerOptions): Consumer {
  const consumer = deps.queue.consume<SegmentationWork>(SEGMENTATION_LIVE, (job) => runSegmentationWork(deps, job.data), {
    concurrency: options.concurrency,
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let closed = false;
  const tick = () => {
    running = drainPending(deps, options.pendingBatch)
      .then((profiles) => profiles > 0 && deps.logger.debug({ profiles }, 'post-event segmentation'))
      .catch((error: unknown) => deps.logger.error({ err: error }, 'post-event segmentation failed; will retry'))
      .finally(() => {
        if (!closed) timer = setTimeout(tick, options.pendingIntervalMs);
      });
  };
  if (options.pendingIntervalMs > 0) timer = setTimeout(tick, options.pendingIntervalMs);
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await Promise.all([consumer.close(), running]);
    },
  };
}
