import type { Logger } from '../shared/logger.js';
import type { TrackingStore } from '../tracking/ports.js';
import type { DueSession } from '../tracking/session-events.js';
import { planHeartbeat, type HeartbeatSettings, type QualifyBy } from './options.js';
import type { DueSessionFinder, SessionCursor } from './ports.js';

export const DEFAULT_BATCH_SIZE = 10_000;
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
  scanned: number;
  due: number;
  /** Events newly stored; fewer than `due` when another run registered some first. */
  registered: number;
  dryRun: boolean;
  elapsedMs: number;
  /** On a dry run, the sessions that would get an event. */
  wouldRegister: DueSession[];
}

/**
 * One heartbeat run: keyset-pages over the sessions in range and registers the plan's event for the
 * due ones, a batch per transaction. Safe to re-run and to run concurrently (see registerSessionEvents).
 */
export async function runHeartbeat(run: HeartbeatRun, { sessions, events, logger }: HeartbeatServices): Promise<HeartbeatReport> {
  const started = performance.now();
  const plan = planHeartbeat(run.qualifyBy, run.settings, run.now);
  const dryRun = run.dryRun ?? false;
  const report: HeartbeatReport = {
    qualifyBy: plan.qualifyBy,
    eventType: plan.eventType,
    from: plan.from,
    to: plan.to,
    scanned: 0,
    due: 0,
    registered: 0,
    dryRun,
    elapsedMs: 0,
    wouldRegister: [],
  };
  const progress = () => ({
    qualifyBy: report.qualifyBy,
    scanned: report.scanned,
    due: report.due,
    registered: report.registered,
    ms: Math.round(performance.now() - started),
  });
  logger.info({ qualifyBy: plan.qualifyBy, from: plan.from, to: plan.to, idleBefore: plan.idleBefore, dryRun }, 'heartbeat started');
  let lastProgress = started;
  let cursor: SessionCursor | null = null;
  do {
    const page = await sessions.page(plan, cursor, run.batchSize ?? DEFAULT_BATCH_SIZE);
    report.scanned += page.scanned;
    report.due += page.due.length;
    if (dryRun) {
      report.wouldRegister.push(...page.due);
    } else {
      const registration = { type: plan.eventType, effect: plan.effect, sessions: page.due, metadata: { registeredBy: `heartbeat:${plan.qualifyBy}` } };
      report.registered += (await events.registerSessionEvents(registration, run.now)).length;
    }
    cursor = page.next;
    if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = performance.now();
      logger.info(progress(), 'heartbeat progress');
    }
  } while (cursor !== null);
  report.elapsedMs = Math.round(performance.now() - started);
  logger.info(progress(), 'heartbeat finished');
  return report;
}
