import { DEFAULT_SQL_MAPPING, documentFromRow } from '../condition/index.js';
import { WRITABLE_PROFILE_PARTS } from '../mapping/mapping.js';
import type {
  ClaimedRun,
  FinishedRun,
  PendingRaises,
  RunSelection,
  StoredAnswer,
  WorkflowRunStore,
} from '../workflow/executor.js';
import { failedAtCommit, replayProfileChanges, runEventDocument } from '../workflow/executor.js';
import { IDENTIFYING_PARTS } from '../workflow/profile-changes.js';
import type { NodeTrace, PauseState, RunEffect, RunResult } from '../workflow/model.js';
import { runIdSql, segmentationRunId } from '../workflow/run-ids.js';
import type { FlowSegmentationWork, SegmentationRunPage, SegmentationRunStore } from '../workflow/segmentation.js';
import { deepEquals } from '../condition/values.js';
import { selectionFilter } from './sql-segments.js';
import { flowFromRow } from './sql-flows.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import { writableProfileColumns, type Row } from './rows.js';
import { scheduleInTx } from './sql-scheduled.js';
import { scheduledFromRun } from '../scheduler/from-workflow.js';
import { runCommitSteps, type CommitStep, type CommittedEvent, type DecidedRun } from '../tracking/commit-steps.js';
import type { RulesState } from '../workflow/inline.js';

/**
 * Records, in the transaction that commits `events`, one pending run per (enabled event rule of an
 * enabled flow, matching event). Matched in SQL at commit time, so a rule saved a moment ago is never
 * missed; the run id is derived from rule and event, so a repeated commit records nothing new.
 */
async function recordEventRuns(tx: SqlExecutor, committed: readonly CommittedEvent[]): Promise<void> {
  const events = committed.filter((event) => event.runFlows !== false);
  if (events.length === 0) return;
  const rows = events.map((event) => ({
    id: event.id,
    type: event.type,
    profile_id: event.profileId,
    session_id: event.sessionId,
    source_id: event.sourceId,
  }));
  await tx.query(
    `INSERT INTO workflow_runs (id, flow_id, rule_id, trigger, event_id, profile_id, session_id, answers_client)
     SELECT ${runIdSql('r.id', 'e.id')}, r.flow_id, r.id, 'event', e.id, e.profile_id, e.session_id, f.answers_client
       FROM jsonb_to_recordset($1::text::jsonb) AS e(id text, type text, profile_id text, session_id text, source_id text)
       JOIN rules r ON r.kind = 'event' AND r.enabled AND r.event_type = e.type
                   AND (r.source_id IS NULL OR r.source_id = e.source_id)
       JOIN flows f ON f.id = r.flow_id AND f.enabled
      ORDER BY 1
     ON CONFLICT DO NOTHING`,
    [JSON.stringify(rows)],
  );
}

/**
 * Stores the runs a writer decided on itself (TrackCommit with its flows): pending, or finished in the
 * commit with their result, for the profile and session of their event as the steps see it.
 */
async function storeDecidedRuns(
  tx: SqlExecutor,
  runs: readonly DecidedRun[],
  committed: readonly CommittedEvent[],
): Promise<void> {
  if (runs.length === 0) return;
  const events = new Map(committed.map((event) => [event.id, event]));
  const rows = runs
    .map(({ id, ruleId, flowId, eventId, answersClient, finished }) => ({
      id,
      flow_id: flowId,
      rule_id: ruleId,
      event_id: eventId,
      profile_id: events.get(eventId)?.profileId ?? null,
      session_id: events.get(eventId)?.sessionId ?? null,
      answers_client: answersClient,
      ...(finished && {
        status: finished.status,
        attempts: 1,
        trace: finished.trace,
        response: finished.response,
        ux: finished.ux,
        memory: finished.memory,
        error: finished.error,
        effects: finished.effects,
        started_at: finished.startedAt,
        finished_at: finished.finishedAt,
      }),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await tx.query(
    `INSERT INTO workflow_runs (id, flow_id, rule_id, trigger, event_id, profile_id, session_id, answers_client, status,
                                attempts, trace, response, ux, memory, error, effects, started_at, finished_at)
     SELECT id, flow_id, rule_id, 'event', event_id, profile_id, session_id, answers_client, coalesce(status, 'pending'),
            coalesce(attempts, 0), coalesce(trace, '[]'), coalesce(response, '{}'), coalesce(ux, '[]'),
            coalesce(memory, '{}'), error, coalesce(effects, '[]'), started_at, finished_at
       FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, flow_id text, rule_id text, event_id text, profile_id text,
            session_id text, answers_client boolean, status text, attempts int, trace jsonb, response jsonb, ux jsonb,
            memory jsonb, error jsonb, effects jsonb, started_at timestamptz, finished_at timestamptz)
     ON CONFLICT DO NOTHING`,
    [JSON.stringify(rows)],
  );
}

/**
 * The commit step of workflows: the runs to do are recorded with the events that start them, matched
 * in SQL, unless the writer matched them itself (then it stores the runs the writer decided on, those
 * it finished included, and nothing when no rule matched).
 */
export const recordWorkflowRunsStep: CommitStep<SqlExecutor> = {
  name: 'workflow-runs',
  independent: true,
  run: (tx, changes) =>
    changes.flowsMatched
      ? storeDecidedRuns(tx, changes.flowsMatched.runs, changes.events)
      : recordEventRuns(tx, changes.events),
};

/**
 * The rules' state as a commit's transaction sees it: their generation, and whether any paused run may
 * wait for an event: any row in the partial index of such runs (a run resumed and not finished yet
 * is there too, which only costs the resume step a look). Read from the index alone: ordered by its
 * leading column, as an EXISTS is planned for a first match the planner's estimates put anywhere, as
 * a scan of the table or a parallel one.
 */
export async function workflowRulesState(tx: SqlExecutor): Promise<RulesState> {
  // From no table, so that a deleted generation row still answers a row: the generation null.
  const [row] = await tx.query<{ generation: string | null; waiting: boolean }>(
    `SELECT (SELECT generation::text FROM workflow_rules_generation) AS generation,
            coalesce((SELECT true FROM workflow_runs WHERE pause->>'untilEventType' IS NOT NULL
                       ORDER BY profile_id LIMIT 1), false) AS waiting`,
  );
  return { generation: row?.generation == null ? null : Number(row.generation), pausedRunsWait: row?.waiting ?? true };
}

/**
 * Continues early the paused runs that wait for an event of a committed type for its profile: back to
 * `pending` at the pause's own port, in the transaction that stores the event, their timeout resume
 * cancelled. A run the scheduler resumed first (at its timeout port) is no longer paused: nothing happens.
 */
async function resumeOnEvents(tx: SqlExecutor, committed: readonly CommittedEvent[], now: Date): Promise<void> {
  const waits = [
    ...new Map(
      committed.flatMap((event) =>
        event.profileId === null
          ? []
          : [[`${event.profileId}\u0000${event.type}`, { profile_id: event.profileId, type: event.type }] as const],
      ),
    ).values(),
  ];
  if (waits.length === 0) return;
  const waiting = await tx.query<{ id: string }>(
    `SELECT w.id FROM workflow_runs w JOIN jsonb_to_recordset($1::text::jsonb) AS e(profile_id text, type text)
       ON w.profile_id = e.profile_id AND w.pause->>'untilEventType' = e.type
      WHERE w.status = 'paused' AND w.pause->>'untilEventType' IS NOT NULL`,
    [JSON.stringify(waits)],
  );
  if (waiting.length === 0) return;
  const ids = [...new Set(waiting.map((row) => row.id))];
  // The resume items first, then the runs: the order the scheduler's resume locks them in.
  await tx.query(
    `UPDATE scheduled SET state = 'cancelled', done_at = $2, claimed_until = NULL
      WHERE kind = 'resume' AND state = 'pending' AND payload->>'runId' = ANY($1::text[])`,
    [ids, now.toISOString()],
  );
  await tx.query(
    `UPDATE workflow_runs
        SET status = 'pending', claimed_until = NULL,
            pause = pause || jsonb_build_object('resume', jsonb_build_object('node', pause->>'node', 'port', pause->>'port'))
      WHERE id = ANY($1::text[]) AND status = 'paused'`,
    [ids],
  );
}

/** The commit step of paused runs that wait for an event: the event that ends the wait continues them. */
export const resumeOnEventsStep: CommitStep<SqlExecutor> = {
  name: 'workflow-resume-on-events',
  independent: true,
  run: async (tx, changes) => {
    // The writer read in its transaction that no paused run waits: nothing to look for.
    if (changes.flowsMatched?.pausedRunsWait === false) return;
    await resumeOnEvents(tx, changes.events, new Date());
  },
};

/**
 * Holds, until the pause commits, the profile row of each run pausing until an event. /track locks the
 * profile before it reads whether a paused run waits: an event committing meanwhile for that profile
 * either waits for the pause, then sees it and resumes the run, or committed before it (it came before
 * the pause and is not what the run waits for). Without this lock, an event whose commit read "no run
 * waits" just before the pause committed would leave the run to its timeout.
 */
async function lockProfilesOfWaits(tx: SqlExecutor, runs: readonly FinishedRun[]): Promise<void> {
  const profileIds = [
    ...new Set(
      runs.flatMap(({ run, outcome }) =>
        run.profileId !== null && outcome.result.pause?.untilEventType !== undefined ? [run.profileId] : [],
      ),
    ),
  ];
  if (profileIds.length === 0) return;
  // FOR UPDATE, as a replay on the locked rows takes it later in the same commit: never an upgrade.
  await tx.query('SELECT 1 FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [profileIds]);
}

/** Where a paused run continues: the point the scheduler set on its pause, with what the run had then. */
function resumePointOf(row: Row): ClaimedRun['resume'] {
  const pause = row.pause as (PauseState & { resume?: { node: string; port: string } }) | null;
  if (!pause?.resume) return null;
  return {
    ...pause.resume,
    input: pause.input,
    memory: (row.memory as Record<string, unknown> | null) ?? {},
    trace: (row.trace as NodeTrace[] | null) ?? [],
    effects: (row.effects as RunEffect[] | null) ?? [],
  };
}

const eventDocument = (row: Row): Record<string, unknown> =>
  runEventDocument(documentFromRow(DEFAULT_SQL_MAPPING.event!, row), row.metadata as Record<string, unknown>);

/** What a run's commit asks of identity, in the caller's transaction. */
export interface RunIdentity {
  /** Merges a profile with those holding its values at `keys`; answers the survivor's id. */
  mergeByKeys(tx: SqlExecutor, profileId: string, keys: readonly string[]): Promise<string>;
  /** Whether a profile document holds a value at an identity key (one identity would claim). */
  holdsKeys(profile: Record<string, unknown>): boolean;
}

export class SqlWorkflowRuns implements WorkflowRunStore, SegmentationRunStore {
  /**
   * `steps`: the commit steps, run when a run changed its profile (post-event segmentation among them);
   * `identity`: applies a flow's merge effect in the commit that stores the run, and tells which
   * changed profiles the identification step has keys to claim for.
   */
  constructor(
    private readonly db: Database,
    private readonly steps: readonly CommitStep<SqlExecutor>[],
    private readonly identity?: RunIdentity,
  ) {}

  async claim(selection: RunSelection, now: Date, leaseMs: number): Promise<ClaimedRun[]> {
    const until = new Date(now.getTime() + leaseMs);
    const [which, params] =
      'ids' in selection
        ? [
            `id = ANY($3::text[]) AND (status = 'pending' OR (status = 'running' AND claimed_until < $1))`,
            [now, until, selection.ids],
          ]
        : [
            `finished_at IS NULL AND status IN ('pending', 'running')
             AND ((status = 'pending' AND (NOT answers_client OR created_at < $4))
                  OR (status = 'running' AND claimed_until < $1))
             ORDER BY created_at LIMIT $3`,
            [now, until, selection.due, new Date(now.getTime() - selection.graceMs)],
          ];
    // One statement claims the runs and reads what they see (rows as JSON), so a batch takes one
    // connection once; in the order recorded, as a profile's runs replay their changes in that order.
    // On a PostgreSQL server its commit does not wait for the WAL flush: the server outlives a process
    // that dies mid-run, so the claim still counts the attempt; a claim lost with the server leaves
    // the run due again, and the flushed commit of the run's result carries the claim's WAL before it.
    // The embedded store dies with the process: there the attempt must be on disk before the run.
    const flush = this.db.kind === 'postgres' ? 'off' : 'on';
    const claimed = await this.db.query(
      `WITH flush AS (SELECT set_config('synchronous_commit', '${flush}', true)),
       claimed AS (
         UPDATE workflow_runs w
            SET status = 'running', attempts = w.attempts + 1, claimed_until = $2, started_at = coalesce(w.started_at, $1)
          WHERE w.id IN (SELECT id FROM workflow_runs WHERE ${which} FOR UPDATE SKIP LOCKED)
          RETURNING w.id, w.attempts, w.flow_id, w.event_id, w.profile_id, w.session_id, w.payload, w.created_at,
                    w.pause, w.memory, w.trace, w.effects)
       SELECT c.id, c.attempts, c.flow_id, c.event_id, c.profile_id, c.session_id, c.payload,
              c.pause, c.memory, c.trace, c.effects,
              to_jsonb(f) AS flow, to_jsonb(p) AS profile, to_jsonb(s) AS session, to_jsonb(e) AS event,
              CASE WHEN p.id IS NOT NULL THEN ${profileStateSql('p')} END AS profile_state
         FROM claimed c
         CROSS JOIN flush
         LEFT JOIN flows f ON f.id = c.flow_id
         LEFT JOIN profiles p ON p.id = c.profile_id
         LEFT JOIN sessions s ON s.id = c.session_id
         LEFT JOIN events e ON e.id = c.event_id
        ORDER BY c.created_at, c.id`,
      params,
    );
    return claimed.map((row) => {
      const [flow, profile, session, event] = [row.flow, row.profile, row.session, row.event] as (Row | null)[];
      return {
        id: row.id as string,
        attempts: row.attempts as number,
        flowId: row.flow_id as string,
        flow: flow ? flowFromRow(flow) : null,
        eventId: row.event_id as string | null,
        eventType: (event?.type as string | undefined) ?? null,
        sourceId: (event?.source_id as string | undefined) ?? null,
        profileId: row.profile_id as string | null,
        sessionId: row.session_id as string | null,
        payload: row.payload,
        profile: profile ? documentFromRow(DEFAULT_SQL_MAPPING.profile!, profile) : null,
        profileState: (row.profile_state as string | null) ?? null,
        session: session ? documentFromRow(DEFAULT_SQL_MAPPING.session!, session) : null,
        event: event ? eventDocument(event) : null,
        resume: resumePointOf(row),
      };
    });
  }

  async finish(runs: readonly FinishedRun[], now: Date): Promise<Map<string, RunResult>> {
    return retryingTransaction(this.db, (tx) => this.finishIn(tx, runs, now));
  }

  /**
   * One statement stores the results of the runs whose claim still holds and writes the profiles their
   * changes were replayed on at claim (`planOnClaimedState`), each only while it still holds the state
   * the claim read: the common case locks a profile once, when it is written. The profiles left (their
   * runs saw different states, a change did not apply, or the row moved on since) are locked in id
   * order, as /track locks them, and the runs' changes replayed on the rows as they are now: two runs for
   * one profile, in this batch or in two processes, each add to what the other wrote.
   */
  private async finishIn(tx: SqlExecutor, runs: readonly FinishedRun[], now: Date): Promise<Map<string, RunResult>> {
    await lockProfilesOfWaits(tx, runs);
    const byProfile = new Map<string, FinishedRun[]>();
    for (const finished of runs) {
      const { run, outcome } = finished;
      if (run.profileId === null || outcome.profileChanges.length === 0) continue;
      byProfile.set(run.profileId, [...(byProfile.get(run.profileId) ?? []), finished]);
    }
    const planned = [...byProfile].flatMap(([id, forProfile]) => planOnClaimedState(id, forProfile) ?? []);
    const results = new Map(runs.map(({ run, outcome }) => [run.id, outcome.result]));
    // The steps' statements go out behind the one that writes the planned profiles, on the same
    // connection, so they see what it wrote; a profile it left is replayed below and its steps run
    // again, which records nothing twice.
    const [stored] = await Promise.all([
      storeResultsAndPlannedProfiles(tx, runs, planned, now),
      this.runSteps(
        tx,
        planned.filter((plan) => plan.changed),
      ),
    ]);
    const held = runs.filter(({ run }) => stored.runs.has(run.id));
    for (const { run } of runs) if (!stored.runs.has(run.id)) results.delete(run.id);
    const left = [...byProfile]
      .filter(([id, forProfile]) => !stored.profiles.has(id) && forProfile.some(({ run }) => stored.runs.has(run.id)))
      .map(([id]) => id)
      .sort();
    if (left.length > 0) await this.runSteps(tx, await this.replayOnLockedRows(tx, left, held, results, now));
    const tags = new Map<string, Set<string>>();
    for (const { run, outcome } of held) {
      if (run.eventId === null || outcome.eventTags.length === 0 || results.get(run.id)!.status === 'failed') continue;
      const eventTags = tags.get(run.eventId) ?? new Set();
      for (const tag of outcome.eventTags) eventTags.add(tag);
      tags.set(run.eventId, eventTags);
    }
    // Events the runs schedule, and the resumes of paused runs, are stored with their results, so a
    // run's commit never loses one.
    const scheduled = held.flatMap(({ run, outcome }) => {
      const result = results.get(run.id)!;
      return result.status === 'failed' ? [] : scheduledFromRun(run, outcome.effects, result.pause);
    });
    await Promise.all([
      scheduleInTx(tx, scheduled),
      tags.size > 0 &&
        tx.query(
          `UPDATE events e SET tags = e.tags || ARRAY(SELECT t FROM unnest(r.tags) t WHERE t <> ALL(e.tags))
             FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, tags text[])
            WHERE e.id = r.id AND e.id = ANY($2::text[])`,
          [JSON.stringify([...tags].map(([id, set]) => ({ id, tags: [...set] }))), [...tags.keys()]],
        ),
    ]);
    // After the profiles are written, so a merge sees the key values the same run set.
    for (const { run, outcome } of held) {
      if (run.profileId === null || results.get(run.id)!.status === 'failed') continue;
      for (const effect of outcome.effects.slice(outcome.carried))
        if (effect.kind === 'merge' && this.identity) await this.identity.mergeByKeys(tx, run.profileId, effect.keys);
    }
    return results;
  }

  /** Runs the commit steps for profiles a flow changed (identity for those whose documents changed, segmentation). */
  private async runSteps(tx: SqlExecutor, changed: readonly ChangedProfile[]): Promise<void> {
    if (changed.length === 0) return;
    await runCommitSteps(this.steps, tx, {
      writer: 'workflow',
      events: [],
      profiles: changed.map(({ id, eventTypes }) => ({ id, eventTypes })),
      // Only documents holding a key give the identification step something to claim: the others
      // would cost it a read for nothing.
      documents: changed
        .filter(({ identifying, document }) => identifying && (this.identity?.holdsKeys(document) ?? true))
        .map(({ id }) => id),
    });
  }

  /**
   * Locks the profiles (in id order), replays the held runs' changes on the rows as they are and writes
   * those they changed; a run whose changes no longer apply (another run made the field a text) fails
   * alone, its result stored again. Answers the profiles changed.
   */
  private async replayOnLockedRows(
    tx: SqlExecutor,
    profileIds: readonly string[],
    held: readonly FinishedRun[],
    results: Map<string, RunResult>,
    now: Date,
  ): Promise<ChangedProfile[]> {
    const rows = await tx.query('SELECT * FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
      profileIds,
    ]);
    const failedAtReplay: FinishedRun[] = [];
    const changed: ChangedProfile[] = [];
    for (const row of rows) {
      const forProfile = held.filter(
        ({ run, outcome }) => run.profileId === row.id && outcome.profileChanges.length > 0,
      );
      const current = documentFromRow(DEFAULT_SQL_MAPPING.profile!, row);
      const replayed = replayProfileChanges(current, forProfile);
      for (const [runId, message] of replayed.failures)
        results.set(runId, failedAtCommit(results.get(runId)!, message));
      failedAtReplay.push(...forProfile.filter(({ run }) => replayed.failures.has(run.id)));
      const applied = forProfile.filter(({ run }) => !replayed.failures.has(run.id));
      // Changes that leave the profile as it was (a segment it has added again) write nothing.
      if (applied.length > 0 && !deepEquals(replayed.profile, current))
        changed.push(changedProfile(row.id as string, current, replayed.profile, applied));
    }
    await Promise.all([
      failedAtReplay.length > 0 && storeResults(tx, failedAtReplay, results, now),
      changed.length > 0 && writeProfiles(tx, changed, now),
    ]);
    return changed;
  }

  async recordSegmentationRuns(
    work: FlowSegmentationWork,
    after: string | null,
    limit: number,
  ): Promise<SegmentationRunPage> {
    const filter = selectionFilter({ kind: 'range', ...work.selection }, 1);
    const afterClause = after === null ? '' : ` AND p.id > $${filter.params.length + 2}::text`;
    const page = await this.db.query<{ id: string }>(
      `SELECT p.id FROM profiles p WHERE ${filter.profiles}${afterClause} ORDER BY p.id LIMIT $1`,
      [limit, ...filter.params, ...(after === null ? [] : [after])],
    );
    const profileIds = page.map((row) => row.id);
    const runIds = profileIds.map((profileId) => segmentationRunId(work.jobRunId, work.flowId, profileId));
    if (runIds.length > 0) {
      await this.db.query(
        `INSERT INTO workflow_runs (id, flow_id, trigger, profile_id)
         SELECT r.id, $3, 'segmentation', r.profile_id FROM unnest($1::text[], $2::text[]) AS r(id, profile_id)
         ON CONFLICT (id) DO NOTHING`,
        [runIds, profileIds, work.flowId],
      );
    }
    return { runIds, lastProfileId: profileIds.at(-1) ?? null };
  }

  async pendingRaises(limit: number): Promise<PendingRaises[]> {
    const rows = await this.db.query(
      `SELECT w.id, w.profile_id, w.session_id, w.effects, e.source_id
         FROM workflow_runs w LEFT JOIN events e ON e.id = w.event_id
        WHERE w.raises_pending ORDER BY w.finished_at LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({
      runId: row.id as string,
      sourceId: row.source_id as string | null,
      profileId: row.profile_id as string | null,
      sessionId: row.session_id as string | null,
      effects: row.effects as RunEffect[],
    }));
  }

  async raisesTracked(runId: string): Promise<void> {
    await this.db.query('UPDATE workflow_runs SET raises_pending = false WHERE id = $1', [runId]);
  }

  async answers(ids: readonly string[]): Promise<StoredAnswer[]> {
    if (ids.length === 0) return [];
    return this.db.query<StoredAnswer & Row>(
      `SELECT id, status, response, ux FROM workflow_runs WHERE id = ANY($1::text[]) AND status = 'completed'`,
      [ids],
    );
  }
}

/** A profile a commit changes: its new document, the event types behind it, whether identity looks at it. */
interface ChangedProfile {
  id: string;
  document: Record<string, unknown>;
  eventTypes: string[];
  identifying: boolean;
}

/** A profile's runs replayed on the state their claim read, written at commit while the row still holds it. */
interface PlannedProfile extends ChangedProfile {
  state: string;
  runs: string[];
  /** false: the changes leave that state as it was, so the commit only checks it still holds. */
  changed: boolean;
}

function changedProfile(
  id: string,
  current: Record<string, unknown>,
  replayed: Record<string, unknown>,
  applied: readonly FinishedRun[],
): ChangedProfile {
  const eventTypes = [...new Set(applied.flatMap(({ run }) => (run.eventType === null ? [] : [run.eventType])))];
  const identifying = IDENTIFYING_PARTS.some((part) => !deepEquals(replayed[part], current[part]));
  return { id, document: replayed, eventTypes, identifying };
}

/**
 * Replays a profile's runs on the document their claim read, when they all read the same state and every
 * change applies to it; otherwise the commit replays them on the locked row.
 */
function planOnClaimedState(id: string, forProfile: readonly FinishedRun[]): PlannedProfile | undefined {
  const { profile, profileState: state } = forProfile[0]!.run;
  if (profile === null || state === null || forProfile.some(({ run }) => run.profileState !== state)) return undefined;
  const replayed = replayProfileChanges(profile, forProfile);
  if (replayed.failures.size > 0) return undefined;
  return {
    ...changedProfile(id, profile, replayed.profile, forProfile),
    state,
    runs: forProfile.map(({ run }) => run.id),
    changed: !deepEquals(replayed.profile, profile),
  };
}

/** The profile parts a flow writes back, and a fingerprint of them in SQL (the claim reads it, the commit checks it). */
const WRITTEN_PROFILE_PARTS = [...WRITABLE_PROFILE_PARTS, 'segments'] as const;
const profileStateSql = (alias: string) =>
  `md5(jsonb_build_array(${WRITTEN_PROFILE_PARTS.map((part) => `${alias}.${part}`).join(', ')})::text)`;

/** The runs' results as stored, each with what it hands on (raised events are marked until tracked). */
function resultRows(runs: readonly FinishedRun[], results: ReadonlyMap<string, RunResult>, now: Date) {
  return runs.map(({ run, outcome }) => {
    const result = results.get(run.id)!;
    const effects = result.status === 'failed' ? [] : outcome.effects;
    return {
      id: run.id,
      attempts: run.attempts,
      status: result.status,
      trace: result.trace,
      response: result.response,
      ux: result.ux,
      memory: result.memory,
      error: result.error ?? null,
      pause: result.pause ?? null,
      effects,
      raises_pending: effects.some((effect) => effect.kind === 'raise-event'),
      finished_at: result.status === 'paused' ? null : now,
    };
  });
}

const STORE_RESULTS = `UPDATE workflow_runs w
        SET status = r.status, trace = r.trace, response = r.response, ux = r.ux, memory = r.memory, error = r.error,
            pause = r.pause, effects = r.effects, raises_pending = r.raises_pending, claimed_until = NULL,
            finished_at = r.finished_at
       FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, attempts int, status text, trace jsonb, response jsonb,
            ux jsonb, memory jsonb, error jsonb, pause jsonb, effects jsonb, raises_pending boolean, finished_at timestamptz)
      WHERE w.id = r.id AND w.id = ANY($2::text[])`;

const PROFILE_WRITE = `traits = r.traits, pii = r.pii, data = r.data, stats = r.stats, consents = r.consents,
            segments = r.segments, version = p.version + 1`;
const PROFILE_RECORD = `id text, traits jsonb, pii jsonb, data jsonb, stats jsonb, consents jsonb, segments text[]`;

function profileRow({ id, document }: { id: string; document: Record<string, unknown> }) {
  return {
    id,
    ...writableProfileColumns(document),
    segments: (document.segments as string[] | undefined) ?? [],
  };
}

/**
 * Stores the results of the runs still running under this claim (their `attempts`) and, in the same
 * statement, writes each planned profile all of whose runs are among them, only while it holds the
 * state the claim read (in id order, as /track locks profiles). A planned profile its runs leave as it
 * was is only checked. Resolves with the runs stored and the planned profiles done.
 */
async function storeResultsAndPlannedProfiles(
  tx: SqlExecutor,
  runs: readonly FinishedRun[],
  planned: readonly PlannedProfile[],
  now: Date,
): Promise<{ runs: Set<string>; profiles: Set<string> }> {
  const results = new Map(runs.map(({ run, outcome }) => [run.id, outcome.result]));
  const plans = planned.map((plan) => ({
    ...profileRow(plan),
    state: plan.state,
    runs: plan.runs,
    changed: plan.changed,
  }));
  const rows = await tx.query<{ id: string; run: boolean }>(
    `WITH stored AS (
       ${STORE_RESULTS} AND w.status = 'running' AND w.attempts = r.attempts
       RETURNING w.id),
     planned AS (
       SELECT * FROM jsonb_to_recordset($3::text::jsonb) AS r(${PROFILE_RECORD}, state text, runs text[], changed boolean)
        WHERE r.runs <@ ARRAY(SELECT id FROM stored)),
     written AS (
       UPDATE profiles p SET ${PROFILE_WRITE}, updated_at = $4
         FROM (SELECT * FROM planned WHERE changed ORDER BY id) r
        WHERE p.id = r.id AND ${profileStateSql('p')} = r.state
       RETURNING p.id)
     SELECT id, true AS run FROM stored
     UNION ALL SELECT id, false FROM written
     UNION ALL SELECT p.id, false FROM profiles p JOIN planned r ON p.id = r.id
                WHERE NOT r.changed AND ${profileStateSql('p')} = r.state`,
    [JSON.stringify(resultRows(runs, results, now)), runs.map(({ run }) => run.id), JSON.stringify(plans), now],
  );
  return {
    runs: new Set(rows.filter((row) => row.run).map((row) => row.id)),
    profiles: new Set(rows.filter((row) => !row.run).map((row) => row.id)),
  };
}

/** Stores again the results of runs this transaction already holds (those that failed at replay). */
async function storeResults(
  tx: SqlExecutor,
  runs: readonly FinishedRun[],
  results: ReadonlyMap<string, RunResult>,
  now: Date,
): Promise<void> {
  await tx.query(STORE_RESULTS, [JSON.stringify(resultRows(runs, results, now)), runs.map(({ run }) => run.id)]);
}

/** Writes back the parts of profiles a flow may change. */
async function writeProfiles(
  tx: SqlExecutor,
  profiles: readonly { id: string; document: Record<string, unknown> }[],
  now: Date,
): Promise<void> {
  const rows = profiles.map(profileRow);
  await tx.query(
    `UPDATE profiles p SET ${PROFILE_WRITE}, updated_at = $3
       FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD})
      WHERE p.id = r.id AND p.id = ANY($2::text[])`,
    [JSON.stringify(rows), rows.map((row) => row.id), now],
  );
}
