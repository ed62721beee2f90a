/**
 * The `scheduled` table (migration 0020). A claim is one statement over rows locked with SKIP LOCKED,
 * so workers never take the same item; each later write checks the claim's token (`attempts`), so a
 * worker whose claim expired and was taken over changes nothing.
 */
import type { ResumeOutcome, ScheduledFilter, ScheduledStore, ScheduledSummary } from '../scheduler/ports.js';
import {
  SCHEDULED_STATES,
  type NewScheduled,
  type ScheduledItem,
  type ScheduledState,
  type ScheduledWork,
} from '../scheduler/schedule.js';
import type { Database, SqlExecutor } from './database.js';
import type { Row } from './rows.js';

const toItem = (row: Row): ScheduledItem => ({
  id: row.id as string,
  kind: row.kind as ScheduledItem['kind'],
  dueAt: row.due_at as Date,
  state: row.state as ScheduledState,
  attempts: Number(row.attempts),
  lastError: (row.last_error as string | null) ?? null,
  work: { kind: row.kind, ...(row.payload as object) } as ScheduledWork,
  createdAt: row.created_at as Date,
  doneAt: (row.done_at as Date | null) ?? null,
});

/**
 * Records items in the caller's transaction: a workflow run's commit schedules its events and its
 * resume with the run's own changes, so neither exists without the other. Wake the worker after the
 * commit (`wakeScheduler`); until then, or if that fails, the sweep finds them.
 */
export async function scheduleInTx(tx: SqlExecutor, items: readonly NewScheduled[]): Promise<void> {
  if (items.length === 0) return;
  const rows = items.map(({ id, dueAt, work }) => {
    const { kind, ...payload } = work;
    return { id, kind, due_at: dueAt.toISOString(), payload, profile_id: kind === 'event' ? work.profileId : null };
  });
  await tx.query(
    `INSERT INTO scheduled (id, kind, due_at, payload, profile_id)
     SELECT id, kind, due_at, payload, profile_id
     FROM jsonb_to_recordset($1::text::jsonb)
       AS r(id text, kind text, due_at timestamptz, payload jsonb, profile_id text)
     ON CONFLICT (id) DO NOTHING`,
    [JSON.stringify(rows)],
  );
}

/** Only while the claim this worker took still holds. */
const UNDER_CLAIM = `id = $1 AND state = 'running' AND attempts = $2`;

export class SqlScheduled implements ScheduledStore {
  constructor(private readonly db: Database) {}

  add(items: readonly NewScheduled[]): Promise<void> {
    return scheduleInTx(this.db, items);
  }

  async claimDue(now: Date, limit: number, leaseMs: number): Promise<ScheduledItem[]> {
    const rows = await this.db.query(
      // Pending and expired items are looked up apart: each branch walks its own partial index in
      // order and stops at the limit, where one OR over both would read and sort every pending row.
      `WITH expired AS (
         SELECT id, due_at FROM scheduled WHERE state = 'running' AND claimed_until < $1
         ORDER BY due_at, id LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), pending AS (
         SELECT id, due_at FROM scheduled WHERE state = 'pending' AND due_at <= $1
         ORDER BY due_at, id LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), due AS (
         SELECT id FROM (SELECT * FROM expired UNION ALL SELECT * FROM pending) AS candidates
         ORDER BY due_at, id LIMIT $2
       )
       UPDATE scheduled s
       SET state = 'running', attempts = s.attempts + 1,
           claimed_until = $1::timestamptz + make_interval(secs => $3::double precision / 1000)
       FROM due WHERE s.id = due.id
       RETURNING s.*`,
      [now.toISOString(), limit, leaseMs],
    );
    return rows.map(toItem).sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  async complete(items: readonly ScheduledItem[], now: Date): Promise<Set<string>> {
    if (items.length === 0) return new Set();
    const rows = await this.db.query<{ id: string }>(
      `UPDATE scheduled s SET state = 'done', done_at = $3, claimed_until = NULL, last_error = NULL
       FROM unnest($1::text[], $2::int[]) AS c(id, attempts)
       WHERE s.id = c.id AND s.state = 'running' AND s.attempts = c.attempts
       RETURNING s.id`,
      [items.map((item) => item.id), items.map((item) => item.attempts), now.toISOString()],
    );
    return new Set(rows.map((row) => row.id));
  }

  resume(item: ScheduledItem, now: Date): Promise<ResumeOutcome | undefined> {
    if (item.work.kind !== 'resume') throw new Error(`scheduled item ${item.id} is not a resume`);
    const { runId, node, port } = item.work;
    return this.db.transaction(async (tx) => {
      // Locks the item first: a worker taking it over after this claim expired waits, then finds it done.
      const held = await tx.query(`SELECT id FROM scheduled WHERE ${UNDER_CLAIM} FOR UPDATE`, [item.id, item.attempts]);
      if (held.length === 0) return undefined;
      const resumed = await tx.query(
        `UPDATE workflow_runs
         SET status = 'pending', claimed_until = NULL,
             pause = pause || jsonb_build_object('resume', jsonb_build_object('node', $2::text, 'port', $3::text))
         WHERE id = $1 AND status = 'paused'
         RETURNING id`,
        [runId, node, port],
      );
      await tx.query(
        `UPDATE scheduled SET state = 'done', done_at = $2, claimed_until = NULL, last_error = NULL WHERE id = $1`,
        [item.id, now.toISOString()],
      );
      return resumed.length > 0 ? 'resumed' : 'not-paused';
    });
  }

  async fail(
    item: ScheduledItem,
    error: string,
    next: { state: 'pending'; dueAt: Date } | { state: 'dead' },
  ): Promise<void> {
    await this.db.query(
      `UPDATE scheduled SET state = $3, last_error = $4, claimed_until = NULL, due_at = COALESCE($5, due_at)
       WHERE ${UNDER_CLAIM}`,
      [item.id, item.attempts, next.state, error, next.state === 'pending' ? next.dueAt.toISOString() : null],
    );
  }

  async nextDue(): Promise<Date | undefined> {
    const [row] = await this.db.query(
      `SELECT due_at FROM scheduled WHERE state = 'pending' ORDER BY due_at, id LIMIT 1`,
    );
    return row?.due_at as Date | undefined;
  }

  async get(id: string): Promise<ScheduledItem | undefined> {
    const [row] = await this.db.query('SELECT * FROM scheduled WHERE id = $1', [id]);
    return row && toItem(row);
  }

  async list(filter: ScheduledFilter): Promise<ScheduledItem[]> {
    const rows = await this.db.query(
      `SELECT * FROM scheduled
       WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR profile_id = $2)
         AND ($3::timestamptz IS NULL OR due_at < $3)
       ORDER BY due_at, id LIMIT $4`,
      [filter.state ?? null, filter.profileId ?? null, filter.dueBefore?.toISOString() ?? null, filter.limit],
    );
    return rows.map(toItem);
  }

  async summary(now: Date): Promise<ScheduledSummary> {
    const [rows, [recent]] = await Promise.all([
      this.db.query<{ state: ScheduledState; n: unknown; oldest: Date | null }>(
        `SELECT state, count(*) AS n, min(due_at) FILTER (WHERE state = 'pending' AND due_at <= $1) AS oldest
         FROM scheduled GROUP BY state`,
        [now.toISOString()],
      ),
      this.db.query<{ done: unknown; p99: unknown; max: unknown }>(
        `SELECT count(*) AS done,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY late) AS p99, max(late) AS max
         FROM (SELECT greatest(0, extract(epoch FROM done_at - due_at) * 1000) AS late
               FROM scheduled WHERE state = 'done' AND done_at > $1::timestamptz - interval '1 hour') recent`,
        [now.toISOString()],
      ),
    ]);
    const counts = Object.fromEntries(SCHEDULED_STATES.map((state) => [state, 0])) as Record<ScheduledState, number>;
    let overdueMs = 0;
    for (const row of rows) {
      counts[row.state] = Number(row.n);
      if (row.oldest) overdueMs = now.getTime() - row.oldest.getTime();
    }
    const lastHour = {
      done: Number(recent?.done ?? 0),
      lateP99Ms: Math.round(Number(recent?.p99 ?? 0)),
      lateMaxMs: Math.round(Number(recent?.max ?? 0)),
    };
    return { counts, overdueMs, lastHour };
  }

  async purgeFinished(before: Date, limit: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM scheduled WHERE id IN (
         SELECT id FROM scheduled WHERE state IN ('done', 'cancelled') AND done_at < $1 ORDER BY done_at LIMIT $2)
       RETURNING id`,
      [before.toISOString(), limit],
    );
    return rows.length;
  }

  async retry(id: string, now: Date): Promise<{ retried: boolean; item?: ScheduledItem }> {
    return this.change(
      id,
      `UPDATE scheduled SET state = 'pending', attempts = 0, due_at = $2, done_at = NULL
       WHERE id = $1 AND state = 'dead' RETURNING *`,
      now,
    ).then(({ changed, item }) => ({ retried: changed, item }));
  }

  async cancel(id: string, now: Date): Promise<{ cancelled: boolean; item?: ScheduledItem }> {
    return this.change(
      id,
      `UPDATE scheduled SET state = 'cancelled', done_at = $2, claimed_until = NULL
       WHERE id = $1 AND state IN ('pending', 'dead') RETURNING *`,
      now,
    ).then(({ changed, item }) => ({ cancelled: changed, item }));
  }

  /**
   * One conditional UPDATE decides a race with a worker's claim (the row lock orders them): a cancel
   * either lands before the claim, which then skips the item, or finds it running or done.
   */
  private async change(id: string, sql: string, now: Date): Promise<{ changed: boolean; item?: ScheduledItem }> {
    const [row] = await this.db.query(sql, [id, now.toISOString()]);
    if (row) return { changed: true, item: toItem(row) };
    return { changed: false, item: await this.get(id) };
  }
}
