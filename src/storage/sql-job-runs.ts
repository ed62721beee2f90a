/**
 * Runs of background work cut into planned batches (job_runs, job_run_batches). A batch is claimed
 * and completed inside the transaction that does its work, so its effects and its progress commit
 * together and a redelivered batch finds itself done.
 */
import type { Database, SqlExecutor } from './database.js';
import type { JobRun, JobRunRepository, JobRunState } from '../shared/job-runs.js';
import { iso, type Row } from './rows.js';

function stateOf(row: Row): JobRunState {
  if (row.failed_at) return 'failed';
  if (Number(row.batches_done) >= Number(row.batches)) return 'done';
  return Number(row.batches_done) > 0 ? 'running' : 'queued';
}

/** A run's columns, and whether a runner holds its lease now. */
const RUN = 'job_runs.*, coalesce(lease_until > now(), false) AS leased';

const toJobRun = (row: Row): JobRun => ({
  id: row.id as string,
  kind: row.kind as string,
  subject: (row.subject as string | null) ?? null,
  state: stateOf(row),
  total: Number(row.total),
  done: Number(row.done),
  errors: Number(row.errors),
  batches: Number(row.batches),
  batchesDone: Number(row.batches_done),
  activeMs: Number(row.active_ms),
  leased: row.leased === true,
  lastError: (row.last_error as string | null) ?? null,
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
  finishedAt: iso(row.finished_at),
});

export class SqlJobRuns implements JobRunRepository {
  constructor(private readonly db: SqlExecutor) {}

  async get(id: string): Promise<JobRun | undefined> {
    const [row] = await this.db.query(`SELECT ${RUN} FROM job_runs WHERE id = $1`, [id]);
    return row && toJobRun(row);
  }

  async list({ kind, limit }: { kind?: string; limit: number }): Promise<JobRun[]> {
    const rows = await this.db.query(
      `SELECT ${RUN} FROM job_runs WHERE $1::text IS NULL OR kind = $1 ORDER BY created_at DESC, id LIMIT $2`,
      [kind ?? null, limit],
    );
    return rows.map(toJobRun);
  }
}

export interface RunStart {
  id: string;
  kind: string;
  subject: string;
  params: Record<string, unknown>;
}

/** What a planning query yields per batch: its seq range and how many items it held. */
export interface PlannedBatches {
  /** A SELECT of (batch, from_seq, to_seq, items) with its parameters from $2 on ($1 is the run id). */
  sql: string;
  params: unknown[];
}

/** Records a run and its batches; a run with no batch is done at once. */
export async function createRun(tx: SqlExecutor, run: RunStart, planned: PlannedBatches): Promise<JobRun> {
  await tx.query('INSERT INTO job_runs (id, kind, subject, params) VALUES ($1, $2, $3, $4::text::jsonb)', [
    run.id,
    run.kind,
    run.subject,
    JSON.stringify(run.params),
  ]);
  await tx.query(
    `INSERT INTO job_run_batches (run_id, batch, from_seq, to_seq, items) SELECT $1, * FROM (${planned.sql}) planned`,
    [run.id, ...planned.params],
  );
  const [row] = await tx.query(
    `UPDATE job_runs r SET total = b.total, batches = b.batches, finished_at = CASE WHEN b.batches = 0 THEN now() END
       FROM (SELECT coalesce(sum(items), 0) AS total, count(*)::int AS batches FROM job_run_batches WHERE run_id = $1) b
      WHERE r.id = $1 RETURNING r.*`,
    [run.id],
  );
  return toJobRun(row!);
}

export interface ClaimedBatch {
  fromSeq: number;
  toSeq: number;
  params: Record<string, unknown>;
}

/**
 * Marks a batch done and returns its range, or undefined when it was done already. Its row stays
 * locked until the transaction ends, so a concurrent redelivery waits and then finds it done.
 */
export async function claimBatch(tx: SqlExecutor, runId: string, batch: number): Promise<ClaimedBatch | undefined> {
  const [row] = await tx.query<{ from_seq: number; to_seq: number; params: Record<string, unknown> }>(
    `UPDATE job_run_batches b SET done_at = now() FROM job_runs r
      WHERE b.run_id = $1 AND b.batch = $2 AND b.done_at IS NULL AND r.id = b.run_id
     RETURNING b.from_seq, b.to_seq, r.params`,
    [runId, batch],
  );
  return row && { fromSeq: Number(row.from_seq), toSeq: Number(row.to_seq), params: row.params };
}

/** Adds a claimed batch's outcome to its run's progress. */
export async function completeBatch(
  tx: SqlExecutor,
  runId: string,
  outcome: { items: number; errors: number },
): Promise<void> {
  await tx.query(
    `UPDATE job_runs SET done = done + $2, errors = errors + $3, batches_done = batches_done + 1, updated_at = now(),
            finished_at = CASE WHEN batches_done + 1 >= batches THEN now() ELSE finished_at END
      WHERE id = $1`,
    [runId, outcome.items, outcome.errors],
  );
}

/** Fails an unfinished run; given a lease owner, only while it holds the run's lease, which it lets go. */
export async function markRunFailed(db: SqlExecutor, runId: string, error: string, leaseOwner?: string): Promise<void> {
  await db.query(
    `UPDATE job_runs SET failed_at = now(), finished_at = now(), last_error = $2, updated_at = now(),
            lease_owner = NULL, lease_until = NULL
      WHERE id = $1 AND batches_done < batches AND ($3::text IS NULL OR lease_owner = $3)`,
    [runId, error, leaseOwner ?? null],
  );
}

/** Clears the failure of every unfinished run of these kinds. */
export async function reopenFailedRuns(db: SqlExecutor, kinds: readonly string[]): Promise<void> {
  await db.query(
    `UPDATE job_runs SET failed_at = NULL, finished_at = NULL, updated_at = now()
      WHERE kind = ANY($1::text[]) AND batches_done < batches AND failed_at IS NOT NULL`,
    [kinds],
  );
}

/** The runs of a kind with batches not done, failed ones included, oldest first. */
export async function unfinishedRuns(db: SqlExecutor, kind: string): Promise<JobRun[]> {
  const rows = await db.query(
    `SELECT ${RUN} FROM job_runs WHERE kind = $1 AND batches_done < batches ORDER BY created_at, id`,
    [kind],
  );
  return rows.map(toJobRun);
}

const leaseEnd = `now() + $3::int * interval '1 millisecond'`;

/**
 * Takes the lease of an unfinished run that is not failed, when no one holds it, its holder's lease
 * ran out, or `owner` holds it already. Answers whether `owner` now holds it.
 */
export async function claimRunLease(db: SqlExecutor, runId: string, owner: string, leaseMs: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE job_runs SET lease_owner = $2, lease_until = ${leaseEnd}
      WHERE id = $1 AND batches_done < batches AND failed_at IS NULL
        AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now())
     RETURNING id`,
    [runId, owner, leaseMs],
  );
  return rows.length > 0;
}

/**
 * Extends `owner`'s lease of a run not failed and answers its params, or undefined when `owner`
 * holds it no longer. Its row stays locked until the transaction ends, so no one takes the run over
 * while a batch of it is under way.
 */
export async function renewRunLease(
  tx: SqlExecutor,
  runId: string,
  owner: string,
  leaseMs: number,
): Promise<{ params: Record<string, unknown>; batches: number } | undefined> {
  const [row] = await tx.query<{ params: Record<string, unknown>; batches: number }>(
    `UPDATE job_runs SET lease_until = ${leaseEnd}
      WHERE id = $1 AND lease_owner = $2 AND failed_at IS NULL RETURNING params, batches`,
    [runId, owner, leaseMs],
  );
  return row && { params: row.params, batches: Number(row.batches) };
}

export async function releaseRunLease(db: SqlExecutor, runId: string, owner: string): Promise<void> {
  await db.query('UPDATE job_runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2', [
    runId,
    owner,
  ]);
}

/** Clears the failure of every unfinished run of these kinds and returns their batches not done. */
export async function reopenUnfinishedRuns(
  db: Database,
  kinds: readonly string[],
): Promise<{ runId: string; kind: string; subject: string; batch: number }[]> {
  return db.transaction(async (tx) => {
    await reopenFailedRuns(tx, kinds);
    const rows = await tx.query<{ run_id: string; kind: string; subject: string; batch: number }>(
      `SELECT b.run_id, r.kind, r.subject, b.batch FROM job_run_batches b JOIN job_runs r ON r.id = b.run_id
        WHERE b.done_at IS NULL AND r.kind = ANY($1::text[]) ORDER BY r.created_at, b.run_id, b.batch`,
      [kinds],
    );
    return rows.map((row) => ({ runId: row.run_id, kind: row.kind, subject: row.subject, batch: row.batch }));
  });
}
