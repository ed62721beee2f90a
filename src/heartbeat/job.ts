import type { Logger } from '../shared/logger.js';
import type { DueSession } from './session-events.js';
import { planHeartbeat, type HeartbeatSettings, type QualifyBy } from './options.js';
import type { DueSlice, HeartbeatStore } from './ports.js';

/**
 * Due sessions per slice, each registered in its own transaction. Smaller slices were slower on the
 * 1M-session benchmark. Larger ones are a little faster, as more profiles then have all their due
 * sessions in one slice, but a slice holds its sessions' locks, which a /track event for one of them
 * waits on, for longer (BENCHMARKS.md, heartbeat).
 */
export const DEFAULT_BATCH_SIZE = 25_000;
const PROGRESS_EVERY_MS = 5_000;

/**
 * The lanes a run may use: each holds a connection for a whole slice, so more lanes than the pool
 * leaves to the heartbeat (`poolSize` less `reserved` for others) would only queue for connections,
 * and in `meridian start` hold up /track's commits.
 */
export function lanesWithin(requested: number, poolSize: number, reserved: number): number {
  return Math.max(1, Math.min(requested, poolSize - reserved));
}

export interface HeartbeatRun {
  qualifyBy: QualifyBy;
  settings: HeartbeatSettings;
  /** The run's clock: the range, the idle threshold and the registration time all derive from it. */
  now: Date;
  /** Find what is due, register nothing. */
  dryRun?: boolean;
  batchSize?: number;
  /** Slices registered at once, each lane over its own share of the profiles. */
  lanes: number;
}

export interface HeartbeatServices {
  store: HeartbeatStore;
  logger: Logger;
  /**
   * Counts what imports stored on sessions they did not create onto those sessions
   * (tracking/history-commit.ts): a run judges a session by its last event. Returns how many it counted.
   */
  settleTouches?: () => Promise<number>;
}

export interface HeartbeatReport {
  qualifyBy: QualifyBy;
  eventType: string;
  from: Date;
  to: Date;
  /** Sessions whose last activity is in the range, due or not. */
  inRange: number;
  due: number;
  /** Events newly stored; fewer than `due` when another run registered some first. */
  registered: number;
  dryRun: boolean;
  elapsedMs: number;
  /** On a dry run, the sessions that would get an event. */
  wouldRegister: DueSession[];
}

/**
 * One heartbeat run: plan the due sessions in range as slices, `lanes` lanes each over its
 * own share of the profiles, then each lane registers the plan's event for its slices one transaction
 * at a time. Lanes do not wait for each other's locks: a profile's sessions are all in one share (but for
 * sessions still carrying the ids of profiles merged into it, which may fall in another). Safe
 * to re-run and to run concurrently (see HeartbeatStore.register).
 */
export async function runHeartbeat(
  run: HeartbeatRun,
  { store, logger, settleTouches }: HeartbeatServices,
): Promise<HeartbeatReport> {
  const started = performance.now();
  if (settleTouches && run.dryRun !== true) {
    const settled = await settleTouches();
    if (settled > 0) logger.info({ settled }, 'heartbeat settled imported events onto their sessions');
  }
  const plan = planHeartbeat(run.qualifyBy, run.settings, run.now);
  const dryRun = run.dryRun ?? false;
  const batchSize = run.batchSize ?? DEFAULT_BATCH_SIZE;
  const { lanes } = run;
  const report: HeartbeatReport = {
    qualifyBy: plan.qualifyBy,
    eventType: plan.eventType,
    from: plan.from,
    to: plan.to,
    inRange: 0,
    due: 0,
    registered: 0,
    dryRun,
    elapsedMs: 0,
    wouldRegister: [],
  };
  const progress = () => ({
    qualifyBy: report.qualifyBy,
    inRange: report.inRange,
    due: report.due,
    registered: report.registered,
    ms: Math.round(performance.now() - started),
  });
  logger.info(
    { qualifyBy: plan.qualifyBy, from: plan.from, to: plan.to, idleBefore: plan.idleBefore, dryRun },
    'heartbeat started',
  );
  // The count need not wait for the plan: on PostgreSQL they run on two connections at once.
  const [inRange, slices] = await Promise.all([store.countInRange(plan), store.slices(plan, lanes, batchSize)]);
  report.inRange = inRange;
  report.due = slices.reduce((sum, slice) => sum + slice.size, 0);
  logger.info(progress(), 'heartbeat planned');
  const metadata = { registeredBy: `heartbeat:${plan.qualifyBy}` };
  let lastProgress = performance.now();
  let failed = false;
  const lane = async (own: DueSlice[]) => {
    for (const slice of own) {
      if (failed) return;
      if (dryRun) {
        report.wouldRegister.push(...(await store.dueIn(plan, slice)));
      } else {
        // Awaited before the sum: `+= await` would read the total before the other lane adds to it.
        const registered = await store.register(plan, slice, metadata, run.now);
        report.registered += registered;
      }
      if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        logger.info(progress(), 'heartbeat progress');
      }
    }
  };
  // A failing lane stops the others at their next slice; the run reports once none is at work.
  const outcomes = await Promise.allSettled(
    Array.from({ length: lanes }, (_, index) =>
      lane(slices.filter((slice) => slice.share.index === index)).catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    ),
  );
  const failure = outcomes.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) throw failure.reason;
  report.elapsedMs = Math.round(performance.now() - started);
  logger.info(progress(), 'heartbeat finished');
  return report;
}
