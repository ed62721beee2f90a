/**
 * Import runs: a run reads its source batch by batch from its checkpoint, stores each batch's rows
 * (as events through the collect pipeline, or as profiles, sessions and events through the record
 * writer), then records the batch's figures and the next checkpoint in one transaction. A worker
 * killed between the two reads the batch again on resume; what it stores is keyed by the row (event
 * ids derived from the import and the row key, Tracardi's own ids), so nothing is stored twice.
 */
import { randomUUID } from 'node:crypto';
import { QueueUnavailableError, type Consumer, type JobQueue, type QueueConsumers } from '../queue/port.js';
import { DomainError, invalidInput, notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { DEFAULT_BATCH_SIZE, type ImportConfig } from './model.js';
import { nextBatchAt, pacedBatchSize, waitUntil } from './pace.js';
import {
  GOING_STATES,
  type BatchOutcome,
  type Collector,
  type ImportRun,
  type ImportRunState,
  type ImportStore,
  type ReaderFactory,
  type RecordWriter,
  RunNotHeld,
  type RunHold,
  type RunWork,
} from './ports.js';
import { recordedRef, RowRejected, rowToEvent, rowToProfile, withDefaultTimeZone, type SourceRow } from './rows.js';
import { tracardiEvent, tracardiProfile, tracardiSession } from './tracardi.js';
import { findUnstorableField } from '../tracking/storable.js';
import type { SecretBox } from './secrets.js';
import type { IdentitySettings } from '../identity/keys.js';
import type { ReadItem } from './sources.js';

export const IMPORT_RUNS = 'import:run';

/** Past a lease's end, so that the job looking again finds it run out (clocks of the store and the queue apart). */
export const LEASE_CHECK_MARGIN_MS = 1000;

/** Events per collect call: /track's own limit. */
const EVENTS_PER_REQUEST = 1000;

export interface ImportServices {
  collector: Collector;
  records: RecordWriter;
  readers: ReaderFactory;
  secrets: () => Promise<SecretBox>;
  /** Which profile paths identify a person, for profiles imported by an identity key. */
  identity: IdentitySettings;
  /**
   * How long a run stays its worker's without a renewal (IMPORT_LEASE_S): the worker renews it with
   * each batch and every third of it meanwhile, so a run is taken over only once its worker is gone.
   */
  leaseMs: number;
}

export interface ImportDeps {
  imports: ImportStore;
  importing: ImportServices;
  queue: JobQueue;
  logger: Logger;
}

/**
 * The job only wakes a worker: the run's state is in the store. Each start and resume gets a job of
 * its own; a run is claimed by one worker at a time, so a spare job finds nothing to do.
 */
async function enqueueRun(queue: JobQueue, runId: string, delayMs = 0): Promise<void> {
  try {
    await queue.enqueue(IMPORT_RUNS, { runId }, { attempts: 1, delayMs, jobId: `import-${runId}-${Date.now()}` });
  } catch (error) {
    if (!(error instanceof QueueUnavailableError)) throw error;
    throw new DomainError(
      'queue_unavailable',
      `the job queue is unreachable: run ${runId} waits, queued; resume it (POST /jobs/${runId}/resume) when the queue is back`,
    );
  }
}

/** The states a resume queues again from. */
const RESUMABLE: readonly ImportRunState[] = ['paused', 'failed', 'running', 'queued'];

const isGoing = (run: ImportRun) => GOING_STATES.includes(run.state);

/** An import's run is going (queued, running or paused): another may not start, nor the import be deleted. */
export class RunGoing extends DomainError {
  constructor(
    readonly run: ImportRun,
    doing: string,
  ) {
    super(
      'conflict',
      `import "${run.importId}" has a ${run.state} run (job ${run.id}): ${doing} once it is done or cancelled; ` +
        `follow it at GET /jobs/${run.id}, or resume or cancel it at POST /jobs/${run.id}/resume|cancel`,
      [{ field: 'job', message: `${run.id} is ${run.state}` }],
    );
  }
}

/** A disabled import's runs neither start nor go on. */
const importDisabled = (importId: string, doing: string) =>
  new DomainError('conflict', `import "${importId}" is disabled; enable it to ${doing}`, [
    { field: 'import', message: `${importId} is disabled` },
  ]);

/** Records a queued run of a saved import, for whoever runs it (a worker, or the CLI in its own process). */
export async function createImportRun(imports: ImportStore, importId: string): Promise<ImportRun> {
  const config = await imports.get(importId);
  if (!config) throw notFound('import');
  if (!config.enabled) throw importDisabled(importId, 'run it');
  const created = await imports.createRun(randomUUID(), importId);
  if (!created) throw notFound('import');
  if ('busy' in created) throw new RunGoing(created.busy, 'start another run');
  return created.run;
}

/** Deletes a saved import, unless a run of it is going. */
export async function deleteImport(imports: ImportStore, importId: string): Promise<void> {
  const outcome = await imports.delete(importId);
  if ('busy' in outcome) throw new RunGoing(outcome.busy, 'delete the import');
  if (!outcome.deleted) throw notFound('import');
}

/** Starts a run of a saved import; the import worker does the reading. */
export async function startImportRun(
  deps: Pick<ImportDeps, 'imports' | 'queue'>,
  importId: string,
): Promise<ImportRun> {
  const run = await createImportRun(deps.imports, importId);
  await enqueueRun(deps.queue, run.id);
  return run;
}

/** The states each action takes a run from, and the state it leaves it in. */
const RUN_CHANGES: Record<'pause' | 'resume' | 'cancel', { from: readonly ImportRunState[]; to: ImportRunState }> = {
  pause: { from: ['queued', 'running'], to: 'paused' },
  // A running run whose worker was killed is resumed too; should that worker live, its next batch
  // finds its claim gone and it stops. A queued one is queued again (its job may be lost).
  resume: { from: RESUMABLE, to: 'queued' },
  cancel: { from: GOING_STATES, to: 'cancelled' },
};

/**
 * pause: the run stops after its current batch; resume: it is queued again, to go on from its
 * checkpoint; cancel: it stops for good. Changes the run's state only: who runs it is the caller's.
 */
export async function changeRun(
  imports: ImportStore,
  runId: string,
  action: 'pause' | 'resume' | 'cancel',
): Promise<ImportRun> {
  const run = await imports.getRun(runId);
  if (!run) throw notFound('job');
  // Left as it is: a run of an import disabled since can still be cancelled, or resumed once it is enabled.
  if (action === 'resume' && RESUMABLE.includes(run.state) && (await imports.get(run.importId))?.enabled === false)
    throw importDisabled(
      run.importId,
      `resume job ${runId}; it stays ${run.state} meanwhile (POST /jobs/${runId}/cancel ends it)`,
    );
  const { from, to } = RUN_CHANGES[action];
  const changed = await imports.transition(runId, from, to);
  if (!changed) {
    // A run that could be resumed was not because another run of its import is going.
    const going =
      action === 'resume' &&
      RESUMABLE.includes(run.state) &&
      (await imports.runsOf(run.importId)).find((other) => isGoing(other) && other.id !== runId);
    if (going) throw new RunGoing(going, `resume job ${runId}`);
    // As it is now: it may have moved on since it was read (a run done meanwhile).
    const state = (await imports.getRun(runId))?.state ?? run.state;
    const states = `${from.slice(0, -1).join(', ')} or ${from.at(-1)!}`;
    throw new DomainError('conflict', `a ${state} run cannot be asked to ${action}`, [
      { field: 'state', message: `${state}; ${action} takes a run that is ${states}` },
    ]);
  }
  return changed;
}

/** changeRun, and a resumed run goes to the import worker. */
export async function controlRun(
  deps: Pick<ImportDeps, 'imports' | 'queue'>,
  runId: string,
  action: 'pause' | 'resume' | 'cancel',
): Promise<ImportRun> {
  const changed = await changeRun(deps.imports, runId, action);
  if (action === 'resume') await enqueueRun(deps.queue, runId);
  return changed;
}

type Rejection = { ref: string; reason: string };
/** One event for the collect pipeline, with whom it belongs to. */
type Collectable = { ref: string; profileId: string; sessionId: string; event: Record<string, unknown> };

/** Maps each row, and turns a RowRejected into its row's rejection. */
function mapRows<T>(items: readonly ReadItem[], map: (ref: string, row: SourceRow) => T) {
  const rejections: Rejection[] = [];
  const mapped: T[] = [];
  for (const item of items) {
    if ('rejected' in item) {
      rejections.push({ ref: item.ref, reason: item.rejected });
      continue;
    }
    try {
      mapped.push(map(item.ref, item.row));
    } catch (error) {
      if (!(error instanceof RowRejected)) throw error;
      rejections.push({ ref: item.ref, reason: error.message });
    }
  }
  return { mapped, rejections };
}

/**
 * A record stored as it is mapped (a profile upsert, a Tracardi document) rejects its row when it holds
 * what PostgreSQL refuses (a NUL, an unpaired surrogate, nesting too deep), which would fail its whole
 * batch; events are checked by collect as `/track` checks them.
 */
function storable<T extends object>(record: T): T {
  const problem = findUnstorableField(record as Record<string, unknown>, Object.keys(record));
  if (problem) throw new RowRejected(`${problem.field}: ${problem.message}`);
  return record;
}

/**
 * Collect's problem with an event as its row's reason: the field as the row's mapping names it (`time`,
 * `properties.total`), without the event's place in the request collect was given, which is no place in the source.
 */
const rowReason = (field: string, message: string) => `${field.replace(/^events\.\d+\.?/, '') || 'event'}: ${message}`;

/**
 * Collects a batch's events, one request per (profile, session) so each keeps its person; the
 * requests are checked at once (while the batch before is stored), and stored when the returned
 * function is called, together (a transaction per commit lane). A request the pipeline refuses
 * rejects its rows; an unknown or disabled event source fails the run.
 */
function collectBatch(
  collector: Collector,
  config: ImportConfig,
  sourceId: string,
  events: readonly Collectable[],
): () => Promise<{ stored: number; rejections: Rejection[] }> {
  const groups = new Map<string, Collectable[]>();
  for (const each of events) {
    const key = `${each.profileId}\u0000${each.sessionId}`;
    const group = groups.get(key);
    if (group) group.push(each);
    else groups.set(key, [each]);
  }
  const requests: Collectable[][] = [];
  for (const group of groups.values())
    for (let at = 0; at < group.length; at += EVENTS_PER_REQUEST)
      requests.push(group.slice(at, at + EVENTS_PER_REQUEST));
  const checking = collector.check(
    requests.map((rows) => ({
      source: { id: sourceId },
      profile: { id: rows[0]!.profileId },
      session: { id: rows[0]!.sessionId },
      events: rows.map(({ event }) => event),
    })),
    { channel: 'import', runFlows: config.options.runFlows !== false },
  );
  // Its failure is met where it is awaited, when the batch is stored.
  checking.catch(() => undefined);
  return async () => {
    const results = await collector.commit(await checking);
    const rejections: Rejection[] = [];
    let stored = 0;
    for (const [index, result] of results.entries()) {
      const rows = requests[index]!;
      if ('error' in result) {
        if (result.error.code === 'invalid_source') throw result.error;
        // A request whose every event was refused names each event's problem: its row gets its own.
        const problems = new Map(
          result.error.details.map(({ field, message }) => [
            Number(/^events\.(\d+)/.exec(field)?.[1]),
            rowReason(field, message),
          ]),
        );
        rows.forEach(({ ref }, index) => rejections.push({ ref, reason: problems.get(index) ?? result.error.message }));
        continue;
      }
      for (const problem of result.answer.errors)
        rejections.push({ ref: rows[problem.index]!.ref, reason: rowReason(problem.field, problem.message) });
      stored += rows.length - result.answer.errors.length;
    }
    return { stored, rejections };
  };
}

type Stored = { stored: number; rejections: Rejection[] };

/**
 * The event source or type of an import that stores events, which saving requires of it
 * (eventNamesNeeded): a configuration without it fails its run, naming the field, rather than store events of none.
 */
function eventName(config: ImportConfig, field: 'eventSourceId' | 'eventType'): string {
  const value = config[field];
  if (value === undefined) {
    const problem = { field, message: 'required for an import that stores events' };
    throw invalidInput(`${field}: ${problem.message}`, [problem]);
  }
  return value;
}

/**
 * Maps one batch's rows the way its source asks (and events through collect's checks: CPU only; for
 * profiles, finds whom each row sets), and returns how to store them: events through collect,
 * profiles by upsert, Tracardi profiles and sessions as they are. Mapping apart from storing lets the
 * next batch be read, mapped and checked while this one is written.
 */
function prepareBatch(
  importing: ImportServices,
  config: ImportConfig,
  items: readonly ReadItem[],
  hold: RunHold,
): () => Promise<Stored> {
  // Counted as stored whether new or already there, as every row handled is: a dump imported again
  // writes each id once.
  const written =
    <T>(mapped: { mapped: T[]; rejections: Rejection[] }, write: (rows: T[]) => Promise<number>) =>
    async () => {
      if (mapped.mapped.length > 0) await write(mapped.mapped);
      return { stored: mapped.mapped.length, rejections: mapped.rejections };
    };
  const { source } = config;
  if (config.target === 'profiles') {
    const { mapped, rejections } = mapRows(items, (_, row) =>
      storable(rowToProfile(config.id, row, config.mapping, importing.identity)),
    );
    const upsert = mapped.length === 0 ? undefined : importing.records.upsertProfiles(mapped, hold);
    return async () => {
      await upsert?.();
      // Counted by rows, as events are: two rows of one profile are two rows stored.
      return { stored: mapped.length, rejections };
    };
  }
  if (source.kind !== 'tracardi') {
    const [sourceId, eventType] = [eventName(config, 'eventSourceId'), eventName(config, 'eventType')];
    const mapped = mapRows(items, (ref, row) => ({ ref, event: rowToEvent(config.id, ref, row, config.mapping) }));
    const checking = importing.collector.checkAppend(
      sourceId,
      eventType,
      mapped.mapped.map(({ event }) => event),
      { channel: 'import', runFlows: config.options.runFlows !== false },
    );
    // Its failure is met where it is awaited, when the batch is stored.
    checking.catch(() => undefined);
    return async () => {
      // Most rows of a history go on a session stored by an earlier batch: appended set-based. The
      // rest (a new person, a session whose visit ended, …) go through collect, one request a person.
      const appended = await importing.collector.append(await checking);
      const rest = appended.declined.map((index) => {
        const { ref, event } = mapped.mapped[index]!;
        return {
          ref,
          profileId: event.profileId,
          sessionId: event.sessionId,
          event: {
            id: event.id,
            type: event.type ?? eventType,
            properties: event.properties,
            ...(event.context === undefined ? {} : { context: event.context }),
            ...(event.tags === undefined ? {} : { tags: event.tags }),
            ...(event.occurredAt === undefined ? {} : { time: event.occurredAt.toISOString() }),
          },
        };
      });
      const outcome =
        rest.length === 0
          ? { stored: 0, rejections: [] }
          : await collectBatch(importing.collector, config, sourceId, rest)();
      return {
        stored: appended.stored + outcome.stored,
        rejections: [...mapped.rejections, ...outcome.rejections],
      };
    };
  }
  switch (source.index) {
    case 'profile':
      return written(
        mapRows(items, (_, row) => storable(tracardiProfile(row))),
        (rows) => importing.records.writeProfiles(rows),
      );
    case 'session':
      return written(
        mapRows(items, (_, row) => storable(tracardiSession(row))),
        (rows) => importing.records.writeSessions(rows),
      );
    case 'event':
      return written(
        mapRows(items, (_, row) => storable(tracardiEvent(row))),
        (rows) =>
          importing.records.writeEvents(rows, eventName(config, 'eventSourceId'), config.options.runFlows !== false),
      );
  }
}

/**
 * A batch's rejections as they are recorded: in the order of its rows (those of the mapping and those
 * of collect come apart, and the store keeps a run's first 1,000, which must be its first rows
 * rejected), each under its ref as recorded (a long key cut).
 */
function toRecord(rejections: readonly Rejection[], items: readonly ReadItem[]): Rejection[] {
  const at = new Map(items.map((item, index) => [item.ref, index]));
  return rejections
    .toSorted((a, b) => (at.get(a.ref) ?? 0) - (at.get(b.ref) ?? 0))
    .map(({ ref, reason }) => ({ ref: recordedRef(ref), reason }));
}

/**
 * What became of a try to run an import run: `ran` here until it ended, paused, or was taken over;
 * `held` by another worker whose lease runs out in `heldForMs` unless renewed; `skipped`, being
 * neither queued nor running (paused, cancelled or ended meanwhile).
 */
export type RunAttempt = { outcome: 'ran' } | { outcome: 'held'; heldForMs: number } | { outcome: 'skipped' };

/**
 * Runs (or goes on with) one import run until its source is read, or it is paused or cancelled: a
 * queued run, or a running one whose worker's lease ran out (killed), which is taken over from its checkpoint.
 */
export async function runImport(deps: ImportDeps, runId: string): Promise<RunAttempt> {
  const { leaseMs } = deps.importing;
  const work = await deps.imports.claimRun(runId, leaseMs);
  if (!work) {
    deps.logger.debug({ run: runId }, 'import run not runnable: skipped');
    return { outcome: 'skipped' };
  }
  if ('heldForMs' in work) return { outcome: 'held', heldForMs: work.heldForMs };
  const renewal = setInterval(() => {
    deps.imports.renewLease(runId, work.claim, leaseMs).catch((error: unknown) => {
      // A lease not renewed now is renewed by the next batch or tick; run out, the run is taken over.
      deps.logger.warn({ err: error, run: runId }, 'import run lease not renewed');
    });
  }, leaseMs / 3);
  try {
    await runClaimed(deps, runId, work);
  } finally {
    clearInterval(renewal);
  }
  return { outcome: 'ran' };
}

async function runClaimed(deps: ImportDeps, runId: string, work: RunWork): Promise<void> {
  // The import's time zone given once to the dates its mapping reads, rather than row by row.
  const config = { ...work.config, mapping: withDefaultTimeZone(work.config.mapping, work.config.options.timeZone) };
  const logger = deps.logger.child({ run: runId, import: config.id });
  try {
    const password = work.secret === null ? undefined : (await deps.importing.secrets()).open(work.secret);
    const reader = deps.importing.readers(config.source, password);
    // A database's keys counted on the server once, when the run starts (a full scan of a big table); a
    // row that repeats the key before it fails the run when it is read, whenever it came. A file is
    // looked at again when a run goes on: it may have gone since.
    await reader.validate?.(work.checkpoint);
    if (work.run.total === null) {
      const total = await reader.total();
      if (total !== undefined) await deps.imports.setTotal(runId, total);
    }
    // null: an Infinity saved before saving refused it, as JSON writes it; no throttle, not one row for ever.
    const rate = config.options.rowsPerSecond ?? undefined;
    const read = reader.read(work.checkpoint, pacedBatchSize(config.options.batchSize ?? DEFAULT_BATCH_SIZE, rate));
    const batches = read[Symbol.asyncIterator]();
    const readAndMap = () => {
      const reading = batches.next().then((next) =>
        next.done
          ? undefined
          : {
              batch: next.value,
              store: prepareBatch(deps.importing, config, next.value.items, { runId, claim: work.claim }),
            },
      );
      // Its failure is met where it is awaited, once the batch before it is stored.
      reading.catch(() => undefined);
      return reading;
    };
    const running = () => deps.imports.isRunning(runId, work.claim);
    // The next batch is read and mapped while this one waits for the throttle and is written; batches
    // are stored and recorded in order, so the checkpoint never passes a batch not stored.
    let ahead = readAndMap();
    let started = Date.now();
    let due = started;
    try {
      for (let current = await ahead; current; current = await ahead) {
        ahead = readAndMap();
        const { batch } = current;
        if (rate !== undefined) {
          // Stopped while it waits, the batch is not stored: it is read again on resume.
          if (!(await waitUntil(due, running))) return await stop(deps, logger);
          due = nextBatchAt(Date.now(), batch.items.length, rate);
        }
        let stored: Stored;
        try {
          stored = await current.store();
        } catch (error) {
          // Taken over by another worker meanwhile: this one's batch was not stored, and it stops.
          if (error instanceof RunNotHeld) return await stop(deps, logger);
          throw error;
        }
        const outcome: BatchOutcome = {
          read: batch.items.length,
          stored: stored.stored,
          rejections: toRecord(stored.rejections, batch.items),
          checkpoint: batch.checkpoint,
          position: batch.position,
          activeMs: Date.now() - started,
        };
        started = Date.now();
        if (!(await deps.imports.recordBatch(runId, work.claim, outcome, deps.importing.leaseMs)))
          return await stop(deps, logger);
      }
    } finally {
      // A batch read ahead and not stored is read again on resume; the reader lets its source go.
      await ahead.catch(() => undefined);
      await batches.return?.();
    }
    await settle(deps, logger);
    await deps.imports.finishRun(runId, work.claim, 'done');
    logger.info('import run done');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A refusal (an unknown event source) says all in its message; anything else gets its stack.
    if (error instanceof DomainError) logger.warn({ code: error.code, error: message }, 'import run failed');
    else logger.error({ err: error }, 'import run failed');
    await settle(deps, logger);
    await deps.imports.finishRun(runId, work.claim, 'failed', message);
  }
}

/** A run paused, cancelled or taken over: what it stored is settled, and its worker lets it go. */
async function stop(deps: ImportDeps, logger: Logger): Promise<void> {
  await settle(deps, logger);
  logger.info('import run stopped: paused or cancelled');
}

/**
 * Counts the run's events onto the sessions they went on, which its commits left to this
 * (tracking/history-commit.ts), once it stops, however it stops. Should that fail, the next run or
 * heartbeat counts them: the run's outcome stands.
 */
async function settle(deps: ImportDeps, logger: Logger): Promise<void> {
  try {
    const settled = await deps.importing.collector.settle();
    if (settled > 0) logger.debug({ settled }, 'import run settled its events onto their sessions');
  } catch (error) {
    logger.warn(
      { err: error },
      'import run could not settle its events onto their sessions; the next run or heartbeat will',
    );
  }
}

/**
 * For the in-process queue, whose jobs die with the process: queues again the runs it left queued
 * or running. A run another process renews the lease of (`meridian import` on the same database) is
 * not taken from it: its job finds it held. Not for Redis, where another worker may hold them.
 */
export async function resumeImportRuns(deps: Pick<ImportDeps, 'imports' | 'queue' | 'logger'>): Promise<number> {
  const runs = await deps.imports.requeueUnfinished();
  for (const runId of runs) await enqueueRun(deps.queue, runId);
  if (runs.length > 0) deps.logger.info({ runs: runs.length }, 'unfinished import runs resumed');
  return runs.length;
}

export const importConsumers: QueueConsumers<ImportDeps, { concurrency: number }> = {
  queues: [IMPORT_RUNS],
  start: (deps, options): Consumer =>
    deps.queue.consume<{ runId: string }>(
      IMPORT_RUNS,
      async (job) => {
        const attempt = await runImport(deps, job.data.runId);
        // Handed out again while its worker still holds the run (or before its lease ran out): the
        // job looks again once the lease would run out, and takes the run over if it did.
        if (attempt.outcome === 'held') {
          deps.logger.debug({ run: job.data.runId, heldForMs: attempt.heldForMs }, 'import run held by another worker');
          await enqueueRun(deps.queue, job.data.runId, attempt.heldForMs + LEASE_CHECK_MARGIN_MS);
        }
      },
      {
        concurrency: options.concurrency,
      },
    ),
};
