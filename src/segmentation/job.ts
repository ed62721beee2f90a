import type { JobQueue } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import type { MembershipStore, ProfileSelection, SegmentRepository } from './ports.js';

/** The reference's queue of segmentation work (Tracardi's name, kept so deployments read the same). */
export const SEGMENTATION_LIVE = 'segmentation:live';

/** Profiles per `segmentation:live` job. */
export const SEGMENTATION_BATCH = 25_000;

/** The payload of one `segmentation:live` job: one segment over one slice of the profiles. */
export interface SegmentationWork {
  segmentId: string;
  selection: ProfileSelection;
}

export interface SegmentationJobOptions {
  /** Profiles per job. */
  batchSize: number;
  /** Only profiles updated within this range (RANGE / --since); all profiles when absent. */
  updatedSince?: Date;
  updatedBefore?: Date;
  /** Only these segments; every enabled one when absent. */
  segmentIds?: string[];
}

export interface SegmentationJobReport {
  segments: number;
  jobs: number;
}

/** Cuts profiles into id ranges: [start, b1), [b1, b2), … [bn, end). */
export function rangesFromBounds(bounds: readonly string[]): { fromId: string | null; toId: string | null }[] {
  const edges = [null, ...bounds, null];
  return edges.slice(0, -1).map((fromId, index) => ({ fromId, toId: edges[index + 1] ?? null }));
}

/**
 * The segmentation job (cron / CronJob): enqueues, for every enabled segment, one
 * `segmentation:live` job per slice of profiles, and returns. The segmentation worker does the work.
 */
export async function runSegmentationJob(
  deps: { segments: SegmentRepository; membership: MembershipStore; queue: JobQueue; logger: Logger },
  options: SegmentationJobOptions,
): Promise<SegmentationJobReport> {
  const started = Date.now();
  const enabled = await deps.segments.listEnabled();
  const segments = options.segmentIds ? enabled.filter((segment) => options.segmentIds!.includes(segment.id)) : enabled;
  if (segments.length === 0) {
    deps.logger.info('no enabled segment: nothing to enqueue');
    return { segments: 0, jobs: 0 };
  }
  const ranges = rangesFromBounds(await deps.membership.rangeBounds(options.batchSize));
  const window = {
    ...(options.updatedSince ? { updatedSince: options.updatedSince.toISOString() } : {}),
    ...(options.updatedBefore ? { updatedBefore: options.updatedBefore.toISOString() } : {}),
  };
  let jobs = 0;
  for (const segment of segments) {
    const work = ranges.map(({ fromId, toId }) => ({
      data: { segmentId: segment.id, selection: { kind: 'range', fromId, toId, ...window } } satisfies SegmentationWork,
    }));
    // A full run is a fresh try for a failed segment: the failure comes back if the runs fail again.
    if (segment.failure) await deps.segments.clearFailure(segment.id);
    await deps.queue.enqueueBulk<SegmentationWork>(SEGMENTATION_LIVE, work);
    await deps.segments.markQueued(segment.id, segment.resegmentRequest);
    jobs += work.length;
    deps.logger.info({ segment: segment.id, jobs: work.length, enqueuedSoFar: jobs }, 'segmentation work enqueued');
  }
  deps.logger.info({ segments: segments.length, jobs, ms: Date.now() - started }, 'segmentation job done');
  return { segments: segments.length, jobs };
}

type ResegmentDeps = Parameters<typeof runSegmentationJob>[0];

/**
 * Queues the full re-decision a save asked for. False when it could not (the job queue is down or
 * slow to answer): the ask stays in the database and the segmentation worker queues it later.
 */
export async function queueResegment(deps: ResegmentDeps, segmentId: string, batchSize: number): Promise<boolean> {
  try {
    await runSegmentationJob(deps, { batchSize, segmentIds: [segmentId] });
    return true;
  } catch (error) {
    deps.logger.warn(
      { err: error, segment: segmentId },
      'could not queue segmentation; the segmentation worker will when the queue answers',
    );
    return false;
  }
}

/**
 * Queues the re-decisions saves asked for and could not queue themselves. `graceMs` leaves a save
 * the time to queue its own; stops at the first that fails, as the others would wait on the same queue.
 */
export async function queueAwaitingResegments(
  deps: ResegmentDeps,
  options: { graceMs: number; batchSize: number },
): Promise<number> {
  let queued = 0;
  for (const segment of await deps.segments.listAwaitingQueue(options.graceMs)) {
    if (!(await queueResegment(deps, segment.id, options.batchSize))) break;
    queued++;
  }
  if (queued > 0) deps.logger.info({ segments: queued }, 'queued the segmentation saves were waiting for');
  return queued;
}
