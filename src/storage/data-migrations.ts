/**
 * Data migrations: rewrites of stored rows that a schema migration must not do in one transaction
 * under a table lock. Each is planned once as a job run (GET /jobs/data-migration-NAME) cut into
 * batches, which every process holding the store (and `meridian migrate`) works through, one process
 * at a time a run; each batch, its checkpoint and its progress commit together, so a killed run goes
 * on from its last batch.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { JobRun } from '../shared/job-runs.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import {
  claimBatch,
  claimRunLease,
  completeBatch,
  createRun,
  markRunFailed,
  releaseRunLease,
  renewRunLease,
  reopenFailedRuns,
  SqlJobRuns,
  unfinishedRuns,
} from './sql-job-runs.js';

export const DATA_MIGRATION = 'data-migration';

export interface DataMigration {
  name: string;
  /** How many rows it goes through, to plan its batches by. */
  count(tx: SqlExecutor): Promise<number>;
  /**
   * Rewrites up to `limit` rows after the key `after` (null: from the start), in key order; answers
   * the last key it went through, null when there was none left.
   */
  migrate(
    tx: SqlExecutor,
    after: string | null,
    limit: number,
  ): Promise<{ last: string | null; items: number; errors: number }>;
}

/** Rows a data migration rewrites per transaction. */
export const DATA_MIGRATION_BATCH = 1000;

export const runIdOf = (migration: Pick<DataMigration, 'name'>) => `${DATA_MIGRATION}-${migration.name}`;

/** Records a run for each migration never planned before; answers the runs it planned. */
export async function planDataMigrations(
  db: Database,
  migrations: readonly DataMigration[],
  batchSize: number,
): Promise<JobRun[]> {
  const planned: JobRun[] = [];
  for (const migration of migrations) {
    const id = runIdOf(migration);
    const run = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [id]);
      if (await new SqlJobRuns(tx).get(id)) return undefined;
      const rows = await migration.count(tx);
      return createRun(
        tx,
        { id, kind: DATA_MIGRATION, subject: migration.name, params: { batchSize, after: null } },
        {
          sql: `SELECT g, 0::bigint, 0::bigint, least($3::int, $2::int - $3::int * (g - 1))
                  FROM generate_series(1, ceil($2::numeric / $3::int)::int) g`,
          params: [rows, batchSize],
        },
      );
    });
    if (run) planned.push(run);
  }
  return planned;
}

export interface RunDataMigrationsOptions {
  /** Who takes the runs' leases: one id per runner, a random one by default. */
  owner?: string;
  /** How long a run stays its runner's without a batch done; then another runner may take it over. */
  leaseMs?: number;
  /** How often to look again while another runner holds the run next in line. */
  pollMs?: number;
  /** Aborted: the runner stops after its current batch, letting the run go for another to take. */
  signal?: AbortSignal;
  /** After each batch this runner did, with the run's progress. */
  onBatch?: (run: JobRun) => void;
  /** Each time another runner holds the run next in line. */
  onWait?: (run: JobRun) => void;
}

const DATA_MIGRATION_LEASE_MS = 30_000;
const DATA_MIGRATION_POLL_MS = 2_000;

/**
 * Works through the batches not done of every data migration's run, oldest run first, one runner at a
 * time a run: the one holding its lease. While another holds it, waits, and takes the run over once
 * that lease runs out unrenewed (its holder was killed). Failed runs are tried again; a run failing
 * now (here, or in another runner meanwhile) is an error. Resolves when every run is done, or once
 * stopped.
 */
export async function runDataMigrations(
  db: Database,
  migrations: readonly DataMigration[],
  options: RunDataMigrationsOptions = {},
): Promise<void> {
  const { owner = randomUUID(), leaseMs = DATA_MIGRATION_LEASE_MS, pollMs = DATA_MIGRATION_POLL_MS, signal } = options;
  const byName = new Map(migrations.map((migration) => [migration.name, migration]));
  await reopenFailedRuns(db, [DATA_MIGRATION]);
  while (!signal?.aborted) {
    // A run of a migration this version does not know (a newer one planned it) is left to that version.
    const run = (await unfinishedRuns(db, DATA_MIGRATION)).find((each) => byName.has(each.subject ?? ''));
    if (!run) return;
    if (run.state === 'failed') throw new Error(`data migration ${run.subject} failed: ${run.lastError}`);
    if (!(await claimRunLease(db, run.id, owner, leaseMs))) {
      options.onWait?.(run);
      await setTimeout(pollMs, undefined, { signal }).catch(() => undefined);
      continue;
    }
    const migration = byName.get(run.subject!)!;
    try {
      // Each batch adds the time since the one before it (or since the lease was taken) to the run's.
      let since = Date.now();
      while (!signal?.aborted) {
        const doneAt = await migrateBatch(db, run.id, migration, owner, leaseMs, since);
        if (doneAt === undefined) break;
        since = doneAt;
        const progress = await new SqlJobRuns(db).get(run.id);
        if (progress) options.onBatch?.(progress);
      }
    } catch (error) {
      await markRunFailed(db, run.id, error instanceof Error ? error.message : String(error), owner);
      throw error;
    }
    await releaseRunLease(db, run.id, owner);
  }
}

/**
 * Does the run's next batch while `owner` holds its lease: the rows, the checkpoint (the last key the
 * batch went through) and the progress, with the time since `since`, commit together. Answers when
 * it did one (that time's end), undefined when it did none.
 */
async function migrateBatch(
  db: Database,
  runId: string,
  migration: DataMigration,
  owner: string,
  leaseMs: number,
  since: number,
): Promise<number | undefined> {
  return retryingTransaction(db, async (tx) => {
    const lease = await renewRunLease(tx, runId, owner, leaseMs);
    if (!lease) return undefined;
    const [next] = await tx.query<{ batch: number }>(
      'SELECT batch FROM job_run_batches WHERE run_id = $1 AND done_at IS NULL ORDER BY batch LIMIT 1',
      [runId],
    );
    if (!next) return undefined;
    const { batchSize, after } = lease.params as { batchSize: number; after: string | null };
    const outcome = await migration.migrate(tx, after, batchSize);
    const doneAt = Date.now();
    await tx.query(
      `UPDATE job_runs SET params = params || jsonb_build_object('after', $2::text), total = greatest(total, done + $3),
              active_ms = active_ms + $4
        WHERE id = $1`,
      [runId, outcome.last ?? after, outcome.items, doneAt - since],
    );
    // The last batch also takes the rows stored since the plan, a batch's worth a transaction: it is
    // done once it finds fewer.
    if (next.batch >= lease.batches && outcome.items >= batchSize)
      await tx.query('UPDATE job_runs SET done = done + $2, errors = errors + $3, updated_at = now() WHERE id = $1', [
        runId,
        outcome.items,
        outcome.errors,
      ]);
    else {
      await claimBatch(tx, runId, next.batch);
      await completeBatch(tx, runId, outcome);
      // Rows deleted since the plan were counted in it and never found: a run done went through `done` rows.
      await tx.query('UPDATE job_runs SET total = done WHERE id = $1 AND batches_done >= batches', [runId]);
    }
    return doneAt;
  });
}
