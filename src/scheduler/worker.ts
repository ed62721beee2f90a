import type { Consumer, JobQueue, QueueConsumers } from '../queue/port.js';
import { DomainError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { runEvery } from '../shared/timer-loop.js';
import type { CollectOrigin } from '../tracking/tracker.js';
import { Lanes } from './lanes.js';
import type { ScheduledStore } from './ports.js';
import {
  afterFailure,
  collectPayload,
  latenessMs,
  requestKeyOf,
  type ScheduledEvent,
  type ScheduledItem,
} from './schedule.js';

/**
 * The scheduler worker. PostgreSQL holds the items; a job on SCHEDULER_WAKE (delayed until an item's
 * due time: a BullMQ delayed job, or a timer in-process) only wakes the worker, and a sweep every
 * `sweepMs` (and one at start) runs whatever is due that no wake-up reached. Each run ends by setting
 * a timer for the next item due before the next sweep.
 */

/** The logical queue whose jobs wake the scheduler worker; a job carries nothing. */
export const SCHEDULER_WAKE = 'scheduler';

/** Tracks a payload through the collect pipeline (Tracker.collect); its answer names the events it refused. */
export type Collect = (
  payload: Record<string, unknown>,
  origin: CollectOrigin,
) => Promise<{ errors: readonly { index: number; field: string; message: string }[] }>;

export interface SchedulerDeps {
  scheduled: ScheduledStore;
  collect: Collect;
  queue: JobQueue;
  logger: Logger;
  clock?: () => Date;
}

export interface SchedulerSettings {
  sweepMs: number;
  /** How long a claim holds: longer than a batch takes, short enough to redo a killed worker's items soon. */
  claimMs: number;
  maxAttempts: number;
  /** Days a done or cancelled item is kept. */
  retentionDays: number;
}

/**
 * Shortest wait before looking again for an item already due: one another worker is claiming at this
 * moment is skipped, not waited for, and is theirs a moment later.
 */
const MIN_REARM_MS = 50;

/** Items claimed at once; the items of one profile run in due order, different profiles side by side. */
const CLAIM_BATCH = 500;

/**
 * Batches claimed and run at once: the next batch's claim and checks overlap the current batch's
 * commits, so neither the worker nor PostgreSQL waits for the other between batches.
 */
const BATCHES_IN_FLIGHT = 2;

export interface BatchReport {
  due: number;
  done: number;
  failed: number;
  dead: number;
  /** The latest start after a due time in the batch. */
  maxLateMs: number;
}

const clockOf = (deps: SchedulerDeps) => deps.clock ?? (() => new Date());

const describe = (error: unknown): string =>
  error instanceof DomainError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);

/** Which items must run one after another: a profile's events, a run's resumes. */
const laneOf = (item: ScheduledItem): string =>
  item.work.kind === 'event' ? `profile:${item.work.profileId}` : `run:${item.work.runId}`;

/** `tracked`: the event is stored, the item is marked done with the batch's others. */
type Result = 'tracked' | 'done' | 'failed' | 'dead' | 'lost';

type EventItem = ScheduledItem & { work: ScheduledEvent };

/** Events in one collect request at most: /track's own limit. */
const EVENTS_PER_REQUEST = 1000;

/**
 * What runs as one piece in a lane: a resume, or a profile's events due one after another in one
 * session (or none) from one source, tracked as one request, so a profile with many items due
 * together costs one place in a commit, not one commit after another.
 */
type Unit = { kind: 'resume'; item: ScheduledItem } | { kind: 'events'; key: string; items: EventItem[] };

/** The batch's units, each lane's in due order (the batch comes in due order). */
function unitsOf(items: readonly ScheduledItem[]): { lane: string; unit: Unit }[] {
  const units: { lane: string; unit: Unit }[] = [];
  const lastOfLane = new Map<string, Unit>();
  for (const item of items) {
    const lane = laneOf(item);
    if (item.work.kind === 'resume') {
      const unit: Unit = { kind: 'resume', item };
      units.push({ lane, unit });
      lastOfLane.set(lane, unit);
      continue;
    }
    const eventItem = item as EventItem;
    const key = requestKeyOf(eventItem.work);
    const last = lastOfLane.get(lane);
    if (last?.kind === 'events' && last.key === key && last.items.length < EVENTS_PER_REQUEST) {
      last.items.push(eventItem);
      continue;
    }
    const unit: Unit = { kind: 'events', key, items: [eventItem] };
    units.push({ lane, unit });
    lastOfLane.set(lane, unit);
  }
  return units;
}

/** Every claim counts: an item whose worker keeps dying with it is given up, not claimed for ever. */
async function givenUp(deps: SchedulerDeps, settings: SchedulerSettings, item: ScheduledItem): Promise<boolean> {
  if (item.attempts <= settings.maxAttempts) return false;
  await deps.scheduled.fail(item, `given up after ${settings.maxAttempts} attempts that did not finish`, {
    state: 'dead',
  });
  return true;
}

async function failed(
  deps: SchedulerDeps,
  settings: SchedulerSettings,
  item: ScheduledItem,
  reason: string,
  error: unknown,
): Promise<Result> {
  const next = afterFailure(item.attempts, settings.maxAttempts, clockOf(deps)());
  deps.logger.warn({ item: item.id, attempt: item.attempts, err: error, next: next.state }, 'scheduled item failed');
  await deps.scheduled.fail(item, reason, next);
  return next.state === 'dead' ? 'dead' : 'failed';
}

async function runResume(deps: SchedulerDeps, settings: SchedulerSettings, item: ScheduledItem): Promise<Result> {
  if (item.work.kind !== 'resume') throw new Error(`scheduled item ${item.id} is not a resume`);
  if (await givenUp(deps, settings, item)) return 'dead';
  try {
    const outcome = await deps.scheduled.resume(item, clockOf(deps)());
    if (outcome === 'not-paused')
      deps.logger.info({ item: item.id, run: item.work.runId }, 'resume due for a run that is no longer paused');
    return outcome === undefined ? 'lost' : 'done';
  } catch (error) {
    return failed(deps, settings, item, describe(error), error);
  }
}

/**
 * Tracks a unit's events as one request. An event the pipeline refuses fails its own item; a
 * refused request fails them all, each with the reason.
 */
async function runEvents(
  deps: SchedulerDeps,
  settings: SchedulerSettings,
  items: readonly EventItem[],
): Promise<Map<ScheduledItem, Result>> {
  const results = new Map<ScheduledItem, Result>();
  const live: EventItem[] = [];
  for (const item of items) {
    if (await givenUp(deps, settings, item)) results.set(item, 'dead');
    else live.push(item);
  }
  if (live.length === 0) return results;
  try {
    const answer = await deps.collect(collectPayload(live), { channel: 'scheduler' });
    const refused = new Map(answer.errors.map((problem) => [problem.index, problem]));
    for (const [index, item] of live.entries()) {
      const problem = refused.get(index);
      results.set(
        item,
        problem ? await failed(deps, settings, item, `${problem.field}: ${problem.message}`, problem) : 'tracked',
      );
    }
  } catch (error) {
    for (const item of live) results.set(item, await failed(deps, settings, item, describe(error), error));
  }
  return results;
}

/** Runs a claimed batch, each unit in its lane, then marks its tracked events done in one statement. */
async function runBatch(
  deps: SchedulerDeps,
  settings: SchedulerSettings,
  items: readonly ScheduledItem[],
  claimedAt: Date,
  lanes: Lanes,
): Promise<BatchReport> {
  const report: BatchReport = { due: items.length, done: 0, failed: 0, dead: 0, maxLateMs: 0 };
  for (const item of items) report.maxLateMs = Math.max(report.maxLateMs, latenessMs(item.dueAt, claimedAt));
  const tracked: ScheduledItem[] = [];
  const lost = (item: ScheduledItem) =>
    deps.logger.warn({ item: item.id }, 'scheduled item taken over by another worker meanwhile');
  const count = (item: ScheduledItem, result: Result) => {
    if (result === 'tracked') tracked.push(item);
    else if (result === 'lost') lost(item);
    else report[result] += 1;
  };
  await Promise.all(
    unitsOf(items).map(({ lane, unit }) =>
      lanes.run(lane, async () => {
        if (unit.kind === 'resume') count(unit.item, await runResume(deps, settings, unit.item));
        else for (const [item, result] of await runEvents(deps, settings, unit.items)) count(item, result);
      }),
    ),
  );
  // One statement marks the batch's tracked events done; a crash before it leaves them to be redone,
  // and their events, with the same ids, are stored once.
  const completed = await deps.scheduled.complete(tracked, clockOf(deps)());
  report.done += completed.size;
  for (const item of tracked) if (!completed.has(item.id)) lost(item);
  return report;
}

/** Runs due items until none is left, BATCHES_IN_FLIGHT batches at a time; returns how many were claimed. */
export async function runDue(deps: SchedulerDeps, settings: SchedulerSettings): Promise<number> {
  const lanes = new Lanes();
  const running = new Set<Promise<void>>();
  let total = 0;
  try {
    for (;;) {
      if (running.size >= BATCHES_IN_FLIGHT) await Promise.race(running);
      const now = clockOf(deps)();
      const items = await deps.scheduled.claimDue(now, CLAIM_BATCH, settings.claimMs);
      if (items.length === 0) break;
      total += items.length;
      const batch = runBatch(deps, settings, items, now, lanes).then((report) => {
        const level = report.failed + report.dead > 0 || report.maxLateMs > 1_000 ? 'info' : 'debug';
        deps.logger[level](report, 'scheduled items run');
      });
      const settled = () => running.delete(batch);
      batch.then(settled, settled);
      running.add(batch);
    }
    await Promise.all(running);
  } finally {
    // A failed batch leaves its items to their claims' expiry; the others finish first.
    await Promise.allSettled(running);
  }
  return total;
}

/**
 * Asks the scheduler worker to wake when these items are due. Best effort: the items are already
 * stored, so a queue that does not answer only leaves them to the sweep.
 */
export async function wakeScheduler(
  deps: Pick<SchedulerDeps, 'queue' | 'logger'>,
  items: readonly { dueAt: Date }[],
  now: Date,
): Promise<void> {
  if (items.length === 0) return;
  try {
    await deps.queue.enqueueBulk(
      SCHEDULER_WAKE,
      items.map(({ dueAt }) => ({ data: {}, opts: { delayMs: Math.max(0, dueAt.getTime() - now.getTime()) } })),
    );
  } catch (error) {
    deps.logger.warn({ err: error }, 'could not queue the scheduler wake-up; the sweep will run the items');
  }
}

/** Finished items removed per sweep: the sweep's period bounds how fast, so one sweep stays short. */
const PURGE_BATCH = 1_000;

/** Removes a batch of done and cancelled items older than the retention. */
export async function purgeFinished(deps: SchedulerDeps, settings: SchedulerSettings): Promise<number> {
  const before = new Date(clockOf(deps)().getTime() - settings.retentionDays * 86_400_000);
  return deps.scheduled.purgeFinished(before, PURGE_BATCH);
}

/** One drain at a time per process; a wake-up during a drain makes it look once more at the end. */
function serial(run: () => Promise<unknown>): () => Promise<void> {
  let current: Promise<void> | undefined;
  let again = false;
  return () => {
    if (current) {
      again = true;
      return current;
    }
    current = (async () => {
      try {
        do {
          again = false;
          await run();
        } while (again);
      } finally {
        current = undefined;
      }
    })();
    return current;
  };
}

export function startSchedulerWorker(deps: SchedulerDeps, settings: SchedulerSettings): Consumer {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const failed = (error: unknown) =>
    deps.logger.error({ err: error }, 'could not run the due scheduled items; the sweep will retry');
  // After each drain, a timer for the next item due before the next sweep: items stored without a
  // wake-up (a flow's, or while Redis was down) and retries after a backoff run on time too.
  const armNext = async () => {
    const next = await deps.scheduled.nextDue();
    if (closed || next === undefined) return;
    const waitMs = next.getTime() - clockOf(deps)().getTime();
    if (waitMs >= settings.sweepMs) return;
    clearTimeout(timer);
    timer = setTimeout(() => void drain().catch(failed), Math.max(MIN_REARM_MS, waitMs)).unref();
  };
  const drain = serial(async () => {
    if (closed) return;
    await runDue(deps, settings);
    await armNext();
  });
  const consumer = deps.queue.consume(SCHEDULER_WAKE, () => drain());
  // Items that fell due while no worker ran (or whose wake-ups Redis lost) run at once, in due order.
  const atStart = drain().catch(failed);
  const sweep = runEvery(
    settings.sweepMs,
    async () => {
      await drain();
      await purgeFinished(deps, settings);
    },
    deps.logger,
    'scheduler sweep failed; will retry',
  );
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await Promise.all([consumer.close(), sweep.stop(), atStart]);
      // Waits for a drain a timer started; it arms no other once closed.
      await drain();
    },
  };
}

/** The scheduler as a worker registers it: its wake-up queue, its settings from the role. */
export const schedulerConsumers: QueueConsumers<SchedulerDeps, { scheduler: SchedulerSettings }> = {
  queues: [SCHEDULER_WAKE],
  start: (deps, options) => startSchedulerWorker(deps, options.scheduler),
};
