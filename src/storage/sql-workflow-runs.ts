import { DEFAULT_SQL_MAPPING, documentFromRow } from '../condition/index.js';
import { WRITABLE_PROFILE_PARTS } from '../mapping/mapping.js';
import type { ClaimedRun, PendingRaises, RunOutcome, StoredAnswer, WorkflowRunStore } from '../workflow/executor.js';
import { RAISED_BY } from '../workflow/executor.js';
import type { Flow, RunEffect } from '../workflow/model.js';
import { applyProfileChanges } from '../workflow/profile-changes.js';
import { runIdSql } from '../workflow/run-ids.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import type { Row } from './rows.js';
import { runCommitSteps, type CommitStep, type CommittedEvent } from '../tracking/commit-steps.js';

/**
 * Records, in the transaction that commits `events`, one pending run per (enabled event rule of an
 * enabled flow, matching event). Matched in SQL at commit time, so a rule saved a moment ago is never
 * missed; the run id is derived from rule and event, so a repeated commit records nothing new.
 */
async function recordEventRuns(tx: SqlExecutor, events: readonly CommittedEvent[]): Promise<void> {
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

/** The commit step of workflows: the runs to do are recorded with the events that start them. */
export const recordWorkflowRunsStep: CommitStep<SqlExecutor> = {
  name: 'workflow-runs',
  run: (tx, changes) => recordEventRuns(tx, changes.events),
};

/** The run's claim was taken over (it expired and another process claimed the run): undo this commit. */
class ClaimLost extends Error {}

const toFlow = (row: Row): Flow => ({
  id: row.id as string,
  name: row.name as string,
  description: row.description as string,
  type: row.type as Flow['type'],
  enabled: row.enabled as boolean,
  graph: row.graph as Flow['graph'],
});

/** The event as a run sees it: with `metadata.raiseDepth`, how many raised events led to it (the loop guard). */
function eventDocument(row: Row): Record<string, unknown> {
  const document = documentFromRow(DEFAULT_SQL_MAPPING.event!, row);
  const options = (row.metadata as { options?: Record<string, unknown> }).options;
  const depth = (options?.[RAISED_BY] as { depth?: unknown } | undefined)?.depth;
  const raiseDepth = typeof depth === 'number' && Number.isInteger(depth) && depth > 0 ? depth : 0;
  return { ...document, metadata: { ...(document.metadata as Record<string, unknown>), raiseDepth } };
}

async function rowsById(db: SqlExecutor, table: string, ids: (string | null)[]): Promise<Map<string, Row>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const rows = await db.query(`SELECT * FROM ${table} WHERE id = ANY($1::text[])`, [wanted]);
  return new Map(rows.map((row) => [row.id as string, row]));
}

export class SqlWorkflowRuns implements WorkflowRunStore {
  /** `steps`: the commit steps, run when a run changed its profile (post-event segmentation among them). */
  constructor(
    private readonly db: Database,
    private readonly steps: readonly CommitStep<SqlExecutor>[],
  ) {}

  async claim(ids: readonly string[], now: Date, leaseMs: number): Promise<ClaimedRun[]> {
    const claimed = await this.db.query(
      `UPDATE workflow_runs w
          SET status = 'running', attempts = w.attempts + 1, claimed_until = $3, started_at = coalesce(w.started_at, $2)
        WHERE w.id IN (SELECT id FROM workflow_runs
                        WHERE id = ANY($1::text[])
                          AND (status = 'pending' OR (status = 'running' AND claimed_until < $2))
                        ORDER BY id FOR UPDATE SKIP LOCKED)
        RETURNING w.id, w.attempts, w.flow_id, w.event_id, w.profile_id, w.session_id, w.payload`,
      [ids, now, new Date(now.getTime() + leaseMs)],
    );
    if (claimed.length === 0) return [];
    const column = (name: string) => claimed.map((row) => row[name] as string | null);
    const [flows, profiles, sessions, events] = await Promise.all([
      rowsById(this.db, 'flows', column('flow_id')),
      rowsById(this.db, 'profiles', column('profile_id')),
      rowsById(this.db, 'sessions', column('session_id')),
      rowsById(this.db, 'events', column('event_id')),
    ]);
    const found = (rows: Map<string, Row>, id: unknown) => (typeof id === 'string' ? rows.get(id) : undefined);
    const document = (row: Row | undefined, source: 'profile' | 'session') =>
      row ? documentFromRow(DEFAULT_SQL_MAPPING[source]!, row) : null;
    return claimed.map((row) => {
      const flow = flows.get(row.flow_id as string);
      const event = found(events, row.event_id);
      return {
        id: row.id as string,
        attempts: row.attempts as number,
        flowId: row.flow_id as string,
        flow: flow ? toFlow(flow) : null,
        eventId: row.event_id as string | null,
        eventType: (event?.type as string | undefined) ?? null,
        sourceId: (event?.source_id as string | undefined) ?? null,
        profileId: row.profile_id as string | null,
        sessionId: row.session_id as string | null,
        payload: row.payload,
        profile: document(found(profiles, row.profile_id), 'profile'),
        session: document(found(sessions, row.session_id), 'session'),
        event: event ? eventDocument(event) : null,
      };
    });
  }

  async finish(run: ClaimedRun, outcome: RunOutcome, now: Date): Promise<boolean> {
    try {
      await retryingTransaction(this.db, (tx) => this.finishIn(tx, run, outcome, now));
      return true;
    } catch (error) {
      if (error instanceof ClaimLost) return false;
      throw error;
    }
  }

  /**
   * The profile is locked before the run row, in the order /track locks (profiles, then what it
   * records), and its changes are replayed on the row as it is now: two runs for one profile queue
   * on the lock and each adds to what the other wrote.
   */
  private async finishIn(tx: SqlExecutor, run: ClaimedRun, outcome: RunOutcome, now: Date): Promise<void> {
    const { result } = outcome;
    const changesProfile = run.profileId !== null && outcome.profileChanges.length > 0;
    const finished = result.status === 'paused' ? null : now;
    const [profiles, held] = await Promise.all([
      changesProfile ? tx.query('SELECT * FROM profiles WHERE id = $1 FOR UPDATE', [run.profileId]) : [],
      tx.query(
        `UPDATE workflow_runs
            SET status = $3, trace = $4::text::jsonb, response = $5::text::jsonb, ux = $6::text::jsonb,
                memory = $7::text::jsonb, error = $8::text::jsonb, pause = $9::text::jsonb, effects = $10::text::jsonb,
                raises_pending = $11, claimed_until = NULL, finished_at = $12
          WHERE id = $1 AND status = 'running' AND attempts = $2
          RETURNING id`,
        [
          run.id,
          run.attempts,
          result.status,
          JSON.stringify(result.trace),
          JSON.stringify(result.response),
          JSON.stringify(result.ux),
          JSON.stringify(result.memory),
          result.error ? JSON.stringify(result.error) : null,
          result.pause ? JSON.stringify(result.pause) : null,
          JSON.stringify(outcome.effects),
          outcome.effects.some((effect) => effect.kind === 'raise-event'),
          finished,
        ],
      ),
    ]);
    if (held.length === 0) throw new ClaimLost();
    const profile = profiles[0];
    const tags = [...new Set(outcome.eventTags)];
    await Promise.all([
      profile && writeProfile(tx, profile, outcome, now),
      tags.length > 0 &&
        run.eventId !== null &&
        tx.query(
          'UPDATE events SET tags = tags || ARRAY(SELECT t FROM unnest($2::text[]) t WHERE t <> ALL(tags)) WHERE id = $1',
          [run.eventId, tags],
        ),
    ]);
    if (profile) {
      const eventTypes = run.eventType === null ? [] : [run.eventType];
      await runCommitSteps(this.steps, tx, {
        writer: 'workflow',
        events: [],
        profiles: [{ id: profile.id as string, eventTypes }],
      });
    }
  }

  async overdue(now: Date, graceMs: number, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM workflow_runs
        WHERE status IN ('pending', 'running')
          AND CASE WHEN status = 'pending' THEN created_at < $2 ELSE claimed_until < $1 END
        ORDER BY created_at LIMIT $3`,
      [now, new Date(now.getTime() - graceMs), limit],
    );
    return rows.map((row) => row.id);
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

/** Replays the run's changes on the locked row and writes the parts they may touch back. */
async function writeProfile(tx: SqlExecutor, row: Row, outcome: RunOutcome, now: Date): Promise<void> {
  const next = applyProfileChanges(documentFromRow(DEFAULT_SQL_MAPPING.profile!, row), outcome.profileChanges);
  await tx.query(
    `UPDATE profiles SET traits = $2::text::jsonb, pii = $3::text::jsonb, data = $4::text::jsonb, stats = $5::text::jsonb,
            consents = $6::text::jsonb, segments = $7::text[], version = version + 1, updated_at = $8
      WHERE id = $1`,
    [
      row.id,
      ...WRITABLE_PROFILE_PARTS.map((part) => JSON.stringify(next[part] ?? {})),
      (next.segments as string[] | undefined) ?? [],
      now,
    ],
  );
}
