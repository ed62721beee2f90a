/**
 * Data migrations: rewrites of stored rows that a schema migration must not do in one transaction
 * under a table lock. `meridian migrate` plans each one as a job run (GET /jobs/data-migration-NAME)
 * cut into batches, then works through them; each batch, its checkpoint and its progress commit
 * together, so a killed run goes on from its last batch when `meridian migrate` runs again.
 */
import type { JobRun } from '../shared/job-runs.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import {
  claimBatch,
  completeBatch,
  createRun,
  markRunFailed,
  reopenUnfinishedRuns,
  SqlJobRuns,
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
      // The last batch has no upper bound: it also takes rows stored since the plan.
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

/** Works through every batch not done of every data migration's run, in order. */
export async function runDataMigrations(
  db: Database,
  migrations: readonly DataMigration[],
  onBatch: (run: JobRun) => void = () => {},
): Promise<void> {
  const byName = new Map(migrations.map((migration) => [migration.name, migration]));
  for (const { runId, subject, batch } of await reopenUnfinishedRuns(db, [DATA_MIGRATION])) {
    const migration = byName.get(subject);
    if (!migration) continue;
    try {
      await retryingTransaction(db, async (tx) => {
        // The run's row is the checkpoint: locked, so that two `meridian migrate` take turns.
        await tx.query('SELECT 1 FROM job_runs WHERE id = $1 FOR UPDATE', [runId]);
        const claimed = await claimBatch(tx, runId, batch);
        if (!claimed) return;
        const { batchSize, after } = claimed.params as { batchSize: number; after: string | null };
        const [{ batches }] = (await tx.query<{ batches: number }>('SELECT batches FROM job_runs WHERE id = $1', [
          runId,
        ])) as [{ batches: number }];
        const limit = batch >= batches ? Number.MAX_SAFE_INTEGER : batchSize;
        const outcome = await migration.migrate(tx, after, limit);
        await tx.query(`UPDATE job_runs SET params = params || jsonb_build_object('after', $2::text) WHERE id = $1`, [
          runId,
          outcome.last ?? after,
        ]);
        await completeBatch(tx, runId, outcome);
      });
    } catch (error) {
      await markRunFailed(db, runId, error instanceof Error ? error.message : String(error));
      throw error;
    }
    const run = await new SqlJobRuns(db).get(runId);
    if (run) onBatch(run);
  }
}
