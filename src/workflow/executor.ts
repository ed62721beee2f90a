import { DomainError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Flow, NodeTrace, ProfileChange, RunContext, RunEffect, RunResult } from './model.js';
import { applyProfileChanges } from './profile-changes.js';
import { raisedEventId } from './run-ids.js';

/**
 * Executes recorded workflow runs. A run row is the durable intent (written by the commit that stored
 * its event); executing it is claim → run the flow → one commit of its profile effects and its result,
 * taken only while the claim still holds → track the events it raised. Any step may be repeated after a
 * crash: the claim expires and the run is executed again; its profile effects commit with the result, so
 * they happen once; an HTTP call made by the flow may happen again (at least once).
 */

/** A run this process holds until its claim expires; `attempts` (counting this one) is the claim's token. */
export interface ClaimedRun {
  id: string;
  attempts: number;
  flowId: string;
  /** Null when the flow was deleted since the run was recorded. */
  flow: Flow | null;
  eventId: string | null;
  eventType: string | null;
  sourceId: string | null;
  profileId: string | null;
  sessionId: string | null;
  payload: unknown;
  /** The documents the run sees, read at claim time (null when gone or never stored). */
  profile: Record<string, unknown> | null;
  /**
   * The store's fingerprint of the profile parts a run may write, as the claim read them: while the
   * row still holds them at commit, the run's changes replayed on `profile` are what a replay on the
   * locked row would give, so the commit writes them without reading the row again.
   */
  profileState: string | null;
  session: Record<string, unknown> | null;
  event: Record<string, unknown> | null;
  /** Set when the scheduler handed a paused run back: the run continues there. */
  resume: ResumePoint | null;
}

/** Where a paused run continues, with what its earlier part left: memory, trace and kept effects. */
export interface ResumePoint {
  node: string;
  port: string;
  input: unknown;
  memory: Record<string, unknown>;
  trace: NodeTrace[];
  effects: RunEffect[];
}

/** What a run's commit writes besides its result. */
export interface RunOutcome {
  result: RunResult;
  /** Replayed on the freshly locked profile row. */
  profileChanges: ProfileChange[];
  eventTags: string[];
  /**
   * Kept with the run: events to raise after the commit, events to schedule, logs, merges. A resumed
   * run keeps its earlier part's first, so raised and scheduled ids (by place) never repeat an earlier one.
   */
  effects: RunEffect[];
  /** How many of `effects` an earlier part of the run kept (its commit applied them). */
  carried: number;
}

/** A completed run whose raised events may not all be tracked yet. */
export interface PendingRaises {
  runId: string;
  sourceId: string | null;
  profileId: string | null;
  sessionId: string | null;
  /** The run's kept effects, as its commit stored them. */
  effects: RunEffect[];
}

export interface StoredAnswer {
  id: string;
  status: string;
  response: Record<string, unknown>;
  ux: unknown[];
}

/** Which runs to claim: these (the API's own), or the oldest due ones (the worker's). */
export type RunSelection =
  | { ids: readonly string[] }
  /** Pending runs, and running ones under an expired claim; runs that answer a client only after `graceMs`. */
  | { due: number; graceMs: number };

export interface FinishedRun {
  run: ClaimedRun;
  outcome: RunOutcome;
}

export interface WorkflowRunStore {
  /** Claims the selected runs that are pending, or running under an expired claim; skips rows others hold. */
  claim(selection: RunSelection, now: Date, leaseMs: number): Promise<ClaimedRun[]>;
  /**
   * In one transaction, for the runs whose claim still holds: replays their profile changes on the
   * locked rows (replayProfileChanges), tags their events, runs the commit steps, stores their results.
   * Resolves with the results as stored, by run id; a run whose claim was lost is not in it.
   */
  finish(runs: readonly FinishedRun[], now: Date): Promise<Map<string, RunResult>>;
  pendingRaises(limit: number): Promise<PendingRaises[]>;
  raisesTracked(runId: string): Promise<void>;
  /** The stored answer of finished runs (a retried request whose runs are done). */
  answers(ids: readonly string[]): Promise<StoredAnswer[]>;
}

/** Tracks a payload through the collect pipeline (Tracker.collect with the `workflow` channel). */
export type RaiseEvent = (payload: Record<string, unknown>) => Promise<unknown>;

/** How runs are executed, as the composition root wires it. */
export interface WorkflowExecution {
  runs: WorkflowRunStore;
  /** The engine with its actions and HTTP client (runFlow). */
  runFlow: (
    flow: Flow,
    context: RunContext,
    resume?: { node: string; port: string; input: unknown },
  ) => Promise<RunResult>;
  raise: RaiseEvent;
  settings: ExecutorSettings;
}

export interface ExecutorDeps extends WorkflowExecution {
  logger: Logger;
  clock?: () => Date;
}

export interface ExecutorSettings {
  /** How long a claim holds: longer than a run may take (the engine's time limit). */
  leaseMs: number;
  /** A run claimed this many times without finishing (it kills its process?) is failed, not tried again. */
  maxAttempts: number;
}

export const DEFAULT_EXECUTOR_SETTINGS: ExecutorSettings = { leaseMs: 120_000, maxAttempts: 5 };

/**
 * Where a raised event says it came from: `{run, depth}` in its `options`, which the stored event keeps
 * as `metadata.options`. The run it starts sees the depth as `event@metadata.raiseDepth` (the loop guard).
 */
export const RAISED_BY = 'raisedBy';

/**
 * The event as a run sees it: its document with `metadata.raiseDepth`, how many raised events led to
 * it (the loop guard), read from the stored metadata's `options.raisedBy`.
 */
export function runEventDocument(
  document: Record<string, unknown>,
  storedMetadata: Record<string, unknown>,
): Record<string, unknown> {
  const options = (storedMetadata as { options?: Record<string, unknown> }).options;
  const depth = (options?.[RAISED_BY] as { depth?: unknown } | undefined)?.depth;
  const raiseDepth = typeof depth === 'number' && Number.isInteger(depth) && depth > 0 ? depth : 0;
  return { ...document, metadata: { ...(document.metadata as Record<string, unknown>), raiseDepth } };
}

export interface ExecutedRun {
  id: string;
  status: RunResult['status'];
  response: Record<string, unknown>;
  ux: unknown[];
}

const clockOf = (deps: ExecutorDeps) => deps.clock ?? (() => new Date());

/** Claims and executes the selected runs nobody else holds; returns the runs this call finished. */
export async function executeRuns(deps: ExecutorDeps, selection: RunSelection): Promise<ExecutedRun[]> {
  if ('ids' in selection && selection.ids.length === 0) return [];
  const claimed = await deps.runs.claim(selection, clockOf(deps)(), deps.settings.leaseMs);
  if (claimed.length === 0) return [];
  const finished: FinishedRun[] = [];
  for (const run of claimed) {
    finished.push({ run, outcome: outcomeOf(await resultOf(deps, run), run.resume?.effects) });
    // A flow of synchronous actions never yields: let /track's I/O through between runs.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const stored = await deps.runs.finish(finished, clockOf(deps)());
  const executed: ExecutedRun[] = [];
  for (const { run, outcome } of finished) {
    const result = stored.get(run.id);
    if (!result) {
      deps.logger.warn({ run: run.id }, 'workflow run claimed by another process meanwhile: its result is theirs');
      continue;
    }
    if (result.status === 'failed')
      deps.logger.info({ run: run.id, flow: run.flowId, error: result.error }, 'workflow run failed');
    else await raiseQuietly(deps, { ...run, runId: run.id, effects: outcome.effects });
    executed.push({ id: run.id, status: result.status, response: result.response, ux: result.ux });
  }
  return executed;
}

async function raiseQuietly(deps: ExecutorDeps, pending: PendingRaises): Promise<void> {
  try {
    await raiseEvents(deps, pending);
  } catch (error) {
    deps.logger.error({ run: pending.runId, err: error }, 'could not track raised events; the sweep will');
  }
}

/** A run that ends as failed before or outside the engine (its flow gone, the engine at fault). */
export function failedRun(message: string, node = ''): RunResult {
  return { status: 'failed', trace: [], effects: [], response: {}, ux: [], memory: {}, error: { node, message } };
}

/** Runs the flow; an engine fault, a deleted flow or a run that keeps dying ends the run as failed. */
async function resultOf(deps: ExecutorDeps, run: ClaimedRun): Promise<RunResult> {
  if (run.attempts > deps.settings.maxAttempts)
    return failedRun(`given up after ${deps.settings.maxAttempts} attempts that did not finish`);
  if (!run.flow) return failedRun(`flow "${run.flowId}" no longer exists`);
  // Disabling a flow is how an operator stops it: runs recorded before are not executed either.
  if (!run.flow.enabled) return failedRun(`flow "${run.flowId}" is disabled`);
  const context: RunContext = {
    profile: run.profile,
    session: run.session,
    event: run.event,
    payload: run.payload,
    flow: { id: run.flow.id, name: run.flow.name, type: run.flow.type },
    memory: run.resume?.memory ?? {},
  };
  try {
    if (!run.resume) return await deps.runFlow(run.flow, context);
    const { node, port, input, trace } = run.resume;
    const result = await deps.runFlow(run.flow, context, { node, port, input });
    return { ...result, trace: [...trace, ...result.trace] };
  } catch (error) {
    deps.logger.error({ run: run.id, err: error }, 'workflow engine failed');
    return failedRun(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Sorts a run's effects: profile changes and tags commit with the run, the rest is kept on it, after
 * those `carried` from the run's earlier part. A failed run changes nothing.
 */
export function outcomeOf(result: RunResult, carried: readonly RunEffect[] = []): RunOutcome {
  const outcome: RunOutcome = { result, profileChanges: [], eventTags: [], effects: [], carried: 0 };
  if (result.status === 'failed') return outcome;
  outcome.effects.push(...carried);
  outcome.carried = carried.length;
  for (const effect of result.effects) {
    if (effect.kind === 'profile') outcome.profileChanges.push(effect.change);
    else if (effect.kind === 'event-tags') outcome.eventTags.push(...effect.tags);
    else outcome.effects.push(effect);
  }
  return outcome;
}

/**
 * Replays, in order, the changes of runs for one profile on its freshly locked document. A run whose
 * changes no longer apply (a concurrent run made the field a text, say) fails alone; the others go on.
 */
export function replayProfileChanges(
  profile: Record<string, unknown>,
  runs: readonly FinishedRun[],
): { profile: Record<string, unknown>; failures: Map<string, string> } {
  let current = profile;
  const failures = new Map<string, string>();
  for (const { run, outcome } of runs) {
    try {
      current = applyProfileChanges(current, outcome.profileChanges);
    } catch (error) {
      failures.set(run.id, error instanceof Error ? error.message : String(error));
    }
  }
  return { profile: current, failures };
}

/** The run as stored when its profile changes could not be replayed at commit. */
export function failedAtCommit(result: RunResult, message: string): RunResult {
  return { ...result, status: 'failed', error: { node: '', message: `profile changes not applied: ${message}` } };
}

/** A run's raised events, each with the id derived from the run and its place among them. */
export function raisesOf(runId: string, effects: readonly RunEffect[]) {
  return effects
    .filter((effect) => effect.kind === 'raise-event')
    .map((effect, index) => ({ ...effect, id: raisedEventId(runId, index) }));
}

/**
 * Tracks a run's raised events for its profile, then clears the run's mark. Events tracking refuses
 * (their source was disabled meanwhile) are dropped with a log: tracking them again would be refused again.
 */
export async function raiseEvents(deps: ExecutorDeps, pending: PendingRaises): Promise<void> {
  const raises = raisesOf(pending.runId, pending.effects);
  if (raises.length === 0) return;
  try {
    if (pending.sourceId === null) throw new DomainError('invalid_source', 'the run has no event source');
    await deps.raise({
      source: { id: pending.sourceId },
      ...(pending.profileId === null ? {} : { profile: { id: pending.profileId } }),
      ...(pending.sessionId === null ? {} : { session: { id: pending.sessionId } }),
      events: raises.map((raised) => ({
        id: raised.id,
        type: raised.type,
        properties: raised.properties,
        options: { [RAISED_BY]: { run: pending.runId, depth: raised.depth } },
      })),
    });
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    deps.logger.warn({ run: pending.runId, err: error }, 'raised events refused by tracking: dropped');
  }
  await deps.runs.raisesTracked(pending.runId);
}

/** Tracks the raised events a crash left untracked (their runs committed, the tracking did not happen). */
export async function raiseLeftBehind(deps: ExecutorDeps, limit: number): Promise<number> {
  const pending = await deps.runs.pendingRaises(limit);
  for (const run of pending) await raiseQuietly(deps, run);
  return pending.length;
}

/** Merges finished runs' answers in the order of `ids` (rule order): later keys win, UX snippets add up. */
export function mergeAnswers(
  ids: readonly string[],
  runs: readonly { id: string; response: Record<string, unknown>; ux: unknown[] }[],
): { response: Record<string, unknown>; ux: unknown[] } {
  const byId = new Map(runs.map((run) => [run.id, run]));
  const answer = { response: {} as Record<string, unknown>, ux: [] as unknown[] };
  for (const id of ids) {
    const run = byId.get(id);
    if (!run) continue;
    Object.assign(answer.response, run.response);
    answer.ux.push(...run.ux);
  }
  return answer;
}
