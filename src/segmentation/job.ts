import { randomUUID } from 'node:crypto';
import type { JobQueue } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import type { FlowRepository } from '../workflow/ports.js';
import type { FlowSegmentationWork } from '../workflow/segmentation.js';
import type { MembershipStore, ProfileSelection, SegmentRepository } from './ports.js';

/** The reference's queue of segmentation work (Tracardi's name, kept so deployments read the same). */
export const SEGMENTATION_LIVE = 'segmentation:live';

/** Profiles per `segmentation:live` job. */
export const SEGMENTATION_BATCH = 25_000;

/** One conditional segment over one slice of the profiles. */
export interface SegmentWork {
  segmentId: string;
  selection: ProfileSelection;
}

/** The payload of one `segmentation:live` job: a segment, or a segmentation flow, over one slice of the profiles. */
export type SegmentationWork = SegmentWork | FlowSegmentationWork;

export const isFlowWork = (work: SegmentationWork): work is FlowSegmentationWork => 'flowId' in work;

export interface SegmentationJobOptions {
  /** Profiles per job. */
  batchSize: number;
  /** Only profiles updated within this range (RANGE / --since); all profiles when absent. */
  updatedSince?: Date;
  updatedBefore?: Date;
  /** Only these segments, and no flow; every enabled segment and segmentation flow when absent. */
  segmentIds?: string[];
}

export interface SegmentationJobReport {
  segments: number;
  flows: number;
  jobs: number;
  /** Names this run of the job in its flows' run ids: each flow runs once per profile per job run. */
  jobRunId: string;
}

export interface SegmentationJobDeps {
  segments: SegmentRepository;
  membership: MembershipStore;
  queue: JobQueue;
  logger: Logger;
  /** Where segmentation flows are found; without it only conditional segments are queued. */
  flows?: Pick<FlowRepository, 'list'>;
}

/** Cuts profiles into id ranges: [start, b1), [b1, b2), … [bn, end). */
export function rangesFromBounds(bounds: readonly string[]): { fromId: string | null; toId: string | null }[] {
  const edges = [null, ...bounds, null];
  return edges.slice(0, -1).map((fromId, index) => ({ fromId, toId: edges[index + 1] ?? null }));
}

/**
 * The segmentation job (cron / CronJob): enqueues, for every enabled segment and every enabled flow of
 * type `segmentation`, one `segmentation:live` job per slice of profiles, and returns. The
 * segmentation worker does the work.
 */
export async function runSegmentationJob(
  deps: SegmentationJobDeps,
  options: SegmentationJobOptions,
): Promise<SegmentationJobReport> {
  const started = Date.now();
  const jobRunId = randomUUID();
  const enabled = await deps.segments.listEnabled();
  const segments = options.segmentIds ? enabled.filter((segment) => options.segmentIds!.includes(segment.id)) : enabled;
  const flows =
    options.segmentIds || !deps.flows
      ? []
      : (await deps.flows.list()).filter((flow) => flow.enabled && flow.type === 'segmentation');
  if (segments.length === 0 && flows.length === 0) {
    deps.logger.info('no enabled segment or segmentation flow: nothing to enqueue');
    return { segments: 0, flows: 0, jobs: 0, jobRunId };
  }
  const ranges = rangesFromBounds(await deps.membership.rangeBounds(options.batchSize));
  const window = {
    ...(options.updatedSince ? { updatedSince: options.updatedSince.toISOString() } : {}),
    ...(options.updatedBefore ? { updatedBefore: options.updatedBefore.toISOString() } : {}),
  };
  const slices = ranges.map(({ fromId, toId }) => ({ fromId, toId, ...window }));
  let jobs = 0;
  for (const segment of segments) {
    const work = slices.map((slice) => ({
      data: { segmentId: segment.id, selection: { kind: 'range', ...slice } } satisfies SegmentWork,
    }));
    // A full run is a fresh try for a failed segment: the failure comes back if the runs fail again.
    if (segment.failure) await deps.segments.clearFailure(segment.id);
    await deps.queue.enqueueBulk<SegmentationWork>(SEGMENTATION_LIVE, work);
    await deps.segments.markQueued(segment.id, segment.resegmentRequest);
    jobs += work.length;
    deps.logger.info({ segment: segment.id, jobs: work.length, enqueuedSoFar: jobs }, 'segmentation work enqueued');
  }
  for (const flow of flows) {
    const work = slices.map((selection) => ({
      data: { flowId: flow.id, jobRunId, selection } satisfies FlowSegmentationWork,
    }));
    await deps.queue.enqueueBulk<SegmentationWork>(SEGMENTATION_LIVE, work);
    jobs += work.length;
    deps.logger.info(
      { flow: flow.id, jobRunId, jobs: work.length, enqueuedSoFar: jobs },
      'segmentation flow work enqueued',
    );
  }
  deps.logger.info(
    { segments: segments.length, flows: flows.length, jobs, jobRunId, ms: Date.now() - started },
    'segmentation job done',
  );
  return { segments: segments.length, flows: flows.length, jobs, jobRunId };
}

/** A re-decision asked for by a segment's save queues that segment only. */
type ResegmentDeps = Omit<SegmentationJobDeps, 'flows'>;

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
