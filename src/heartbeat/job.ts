import type { Logger } from '../shared/logger.js';
import type { TrackingStore } from '../tracking/ports.js';
import type { DueSession } from '../tracking/session-events.js';
import { planHeartbeat, type HeartbeatSettings, type QualifyBy } from './options.js';
import type { DueSessionFinder, ProfileShare, SessionCursor } from './ports.js';

/**
 * Due sessions per page. Measured on 1M sessions: 25,000 beats 10,000 (13 s against 16 s for an
 * inactive-session cron run: two lanes on adjacent small pages keep waiting for each other's locks
 * on the profiles those pages share) and 50,000 (15.6 s: longer transactions, colder caches).
 */
export const DEFAULT_BATCH_SIZE = 25_000;
/** Lanes at work at once: PostgreSQL does the work, and two keep two of its cores busy. */
const REGISTRATION_LANES = 2;
const PROGRESS_EVERY_MS = 5_000;

export interface HeartbeatRun {
  qualifyBy: QualifyBy;
  settings: HeartbeatSettings;
  /** The run's clock: the range, the idle threshold and the registration time all derive from it. */
  now: Date;
  /** Find what is due, register nothing. */
  dryRun?: boolean;
  batchSize?: number;
}

export interface HeartbeatServices {
  sessions: DueSessionFinder;
  /** The tracking store: registered events go where /track's go. */
  events: Pick<TrackingStore, 'registerSessionEvents'>;
  logger: Logger;
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
 * One heartbeat run: REGISTRATION_LANES lanes, each over its own share of the profiles, keyset-page
 * over the due sessions in range and register the plan's event for each page in its own transaction.
 * Lanes never wait for each other's locks: a profile's sessions are all in one share. Safe to re-run
 * and to run concurrently (see registerSessionEvents).
 */
export async function runHeartbeat(run: HeartbeatRun, { sessions, events, logger }: HeartbeatServices): Promise<HeartbeatReport> {
  const started = performance.now();
  const plan = planHeartbeat(run.qualifyBy, run.settings, run.now);
  const dryRun = run.dryRun ?? false;
  const batchSize = run.batchSize ?? DEFAULT_BATCH_SIZE;
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
  logger.info({ qualifyBy: plan.qualifyBy, from: plan.from, to: plan.to, idleBefore: plan.idleBefore, dryRun }, 'heartbeat started');
  report.inRange = await sessions.countInRange(plan);
  let lastProgress = started;
  let failed = false;
  const lane = async (share: ProfileShare) => {
    let cursor: SessionCursor | null = null;
    do {
      const due = await sessions.page(plan, share, cursor, batchSize);
      report.due += due.length;
      if (dryRun) {
        report.wouldRegister.push(...due);
      } else if (due.length > 0) {
        const registration = { type: plan.eventType, effect: plan.effect, sessions: due, metadata: { registeredBy: `heartbeat:${plan.qualifyBy}` } };
        const stored = await events.registerSessionEvents(registration, run.now);
        report.registered += stored.length;
      }
      const last = due[due.length - 1];
      cursor = last && due.length === batchSize ? { lastActivity: last.lastActivity, id: last.id } : null;
      if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        logger.info(progress(), 'heartbeat progress');
      }
    } while (cursor !== null && !failed);
  };
  // A failing lane stops the others at their next page; the run reports once none is at work.
  const lanes = await Promise.allSettled(
    Array.from({ length: REGISTRATION_LANES }, (_, index) =>
      lane({ index, of: REGISTRATION_LANES }).catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    ),
  );
  const failure = lanes.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) throw failure.reason;
  report.elapsedMs = Math.round(performance.now() - started);
  logger.info(progress(), 'heartbeat finished');
  return report;
}
