/**
 * Import configurations, runs and rejections (imports, import_runs, import_rejections). A run's
 * figures and checkpoint move together in one statement, guarded by the worker's claim.
 */
import { randomUUID } from 'node:crypto';
import type { Database, SqlExecutor } from './database.js';
import { iso, type Row } from './rows.js';
import type { ImportConfig, ImportDraft } from '../importing/model.js';
import {
  GOING_STATES,
  KEPT_REJECTIONS,
  type BatchOutcome,
  type ImportRun,
  type ImportRunState,
  type ImportStore,
  type RunWork,
} from '../importing/ports.js';
import type { Checkpoint } from '../importing/sources.js';

/** A run's columns, and whether a worker holds its lease now. */
const RUN = 'import_runs.*, coalesce(lease_until > now(), false) AS leased';

/** The end of a lease `$3` milliseconds from now. */
const LEASE_END = `now() + $3::int * interval '1 millisecond'`;

/**
 * The import's run that is going (queued, running or paused), if any, with the import's runs locked
 * for the caller's transaction: what starts, resumes or deletes them waits for it.
 */
async function goingRunOf(tx: SqlExecutor, importId: string): Promise<ImportRun | undefined> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`meridian:import-runs:${importId}`]);
  const [row] = await tx.query(
    `SELECT ${RUN} FROM import_runs WHERE import_id = $1 AND state = ANY($2::text[])
      ORDER BY created_at DESC LIMIT 1`,
    [importId, GOING_STATES],
  );
  return row && toRun(row);
}

const toConfig = (row: Row): ImportConfig => ({
  id: row.id as string,
  name: row.name as string,
  description: row.description as string,
  source: row.source as ImportConfig['source'],
  hasSecret: row.secret !== null,
  ...(row.event_source_id === null ? {} : { eventSourceId: row.event_source_id as string }),
  ...(row.event_type === null ? {} : { eventType: row.event_type as string }),
  target: row.target as ImportConfig['target'],
  mapping: row.mapping as ImportConfig['mapping'],
  options: row.options as ImportConfig['options'],
  enabled: row.enabled as boolean,
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

const toRun = (row: Row): ImportRun => ({
  id: row.id as string,
  importId: row.import_id as string,
  state: row.state as ImportRunState,
  rowsRead: Number(row.rows_read),
  rowsStored: Number(row.rows_stored),
  rowsRejected: Number(row.rows_rejected),
  total: row.total === null ? null : Number(row.total),
  position: Number(row.position),
  activeMs: Number(row.active_ms),
  leased: row.leased === true,
  lastError: (row.last_error as string | null) ?? null,
  createdAt: iso(row.created_at)!,
  startedAt: iso(row.started_at),
  updatedAt: iso(row.updated_at)!,
  finishedAt: iso(row.finished_at),
});

const json = (value: unknown) => JSON.stringify(value ?? {});

/** The parameters $1…$11 of an import's row, in the column order `create` and `update` share. */
function rowParams(id: string, draft: ImportDraft, sealedSecret: string | undefined): unknown[] {
  return [
    id,
    draft.name,
    draft.description ?? '',
    json(draft.source),
    sealedSecret ?? null,
    draft.eventSourceId ?? null,
    draft.eventType ?? null,
    draft.target ?? 'events',
    json(draft.mapping),
    json(draft.options),
    draft.enabled ?? true,
  ];
}

export class SqlImports implements ImportStore {
  constructor(private readonly db: Database) {}

  async create(id: string, draft: ImportDraft, sealedSecret: string | undefined): Promise<ImportConfig> {
    const [row] = await this.db.query(
      `INSERT INTO imports (id, name, description, source, secret, event_source_id, event_type, target, mapping, options, enabled)
       VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb, $11) RETURNING *`,
      rowParams(id, draft, sealedSecret),
    );
    return toConfig(row!);
  }

  async update(id: string, draft: ImportDraft, sealedSecret: string | undefined): Promise<ImportConfig | undefined> {
    const [row] = await this.db.query(
      `UPDATE imports SET name = $2, description = $3, source = $4::text::jsonb, secret = coalesce($5, secret),
              event_source_id = $6, event_type = $7, target = $8, mapping = $9::text::jsonb,
              options = $10::text::jsonb, enabled = $11, updated_at = now()
        WHERE id = $1 RETURNING *`,
      rowParams(id, draft, sealedSecret),
    );
    return row && toConfig(row);
  }

  async get(id: string): Promise<ImportConfig | undefined> {
    const [row] = await this.db.query('SELECT * FROM imports WHERE id = $1', [id]);
    return row && toConfig(row);
  }

  async list(): Promise<ImportConfig[]> {
    return (await this.db.query('SELECT * FROM imports ORDER BY created_at, id')).map(toConfig);
  }

  async delete(id: string): Promise<{ deleted: boolean } | { busy: ImportRun }> {
    return this.db.transaction(async (tx) => {
      const busy = await goingRunOf(tx, id);
      if (busy) return { busy };
      return { deleted: (await tx.query('DELETE FROM imports WHERE id = $1 RETURNING id', [id])).length > 0 };
    });
  }

  async createRun(runId: string, importId: string): Promise<{ run: ImportRun } | { busy: ImportRun } | undefined> {
    return this.db.transaction(async (tx) => {
      const busy = await goingRunOf(tx, importId);
      if (busy) return { busy };
      const [row] = await tx.query(
        `INSERT INTO import_runs (id, import_id, config)
         SELECT $1, i.id, to_jsonb(i) FROM imports i WHERE i.id = $2 RETURNING ${RUN}`,
        [runId, importId],
      );
      return row && { run: toRun(row) };
    });
  }

  async adoptImportSettings(runId: string): Promise<boolean> {
    const adopted = await this.db.query(
      `UPDATE import_runs r SET config = to_jsonb(i), updated_at = now()
         FROM imports i
        WHERE r.id = $1 AND i.id = r.import_id AND r.state IN ('paused', 'queued', 'running')
          AND r.config->'source' = to_jsonb(i)->'source' AND r.config->'mapping' = to_jsonb(i)->'mapping'
          AND r.config->>'event_source_id' IS NOT DISTINCT FROM i.event_source_id
          AND r.config->>'event_type' IS NOT DISTINCT FROM i.event_type AND r.config->>'target' = i.target
          -- a time zone changes what is stored, unlike the other options
          AND r.config->'options'->'timeZone' IS NOT DISTINCT FROM i.options->'timeZone'
       RETURNING r.id`,
      [runId],
    );
    return adopted.length > 0;
  }

  async getRun(id: string): Promise<ImportRun | undefined> {
    const [row] = await this.db.query(`SELECT ${RUN} FROM import_runs WHERE id = $1`, [id]);
    return row && toRun(row);
  }

  async runsOf(importId: string): Promise<ImportRun[]> {
    return (
      await this.db.query(`SELECT ${RUN} FROM import_runs WHERE import_id = $1 ORDER BY created_at DESC, id`, [
        importId,
      ])
    ).map(toRun);
  }

  async latestRuns(limit: number): Promise<ImportRun[]> {
    return (await this.db.query(`SELECT ${RUN} FROM import_runs ORDER BY created_at DESC, id LIMIT $1`, [limit])).map(
      toRun,
    );
  }

  async rejections(runId: string): Promise<{ ref: string; reason: string }[]> {
    const rows = await this.db.query<{ row_ref: string; reason: string }>(
      // Lines and keys sort as numbers where they are numbers.
      `SELECT row_ref, reason FROM import_rejections WHERE run_id = $1
        ORDER BY length(row_ref), row_ref`,
      [runId],
    );
    return rows.map((row) => ({ ref: row.row_ref, reason: row.reason }));
  }

  async claimRun(runId: string, leaseMs: number): Promise<RunWork | { heldForMs: number } | undefined> {
    const claim = randomUUID();
    // Two workers finding one lease run out both update its row: the second, once the first commits,
    // finds it leased again and takes nothing.
    const [row] = await this.db.query(
      `UPDATE import_runs SET state = 'running', claim = $2, lease_until = ${LEASE_END},
              started_at = coalesce(started_at, now()), updated_at = now()
        WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND coalesce(lease_until <= now(), true)))
       RETURNING ${RUN}`,
      [runId, claim, leaseMs],
    );
    if (!row) {
      const [held] = await this.db.query<{ left: number }>(
        `SELECT greatest(0, ceil(extract(epoch FROM lease_until - now()) * 1000))::int AS left
           FROM import_runs WHERE id = $1 AND state = 'running'`,
        [runId],
      );
      return held && { heldForMs: Number(held.left ?? 0) };
    }
    const stored = row.config as Row;
    return {
      run: toRun(row),
      claim,
      config: toConfig(stored),
      secret: (stored.secret as string | null) ?? null,
      checkpoint: (row.checkpoint as Checkpoint | null) ?? undefined,
    };
  }

  async setTotal(runId: string, total: number): Promise<void> {
    await this.db.query('UPDATE import_runs SET total = $2 WHERE id = $1', [runId, total]);
  }

  async renewLease(runId: string, claim: string, leaseMs: number): Promise<boolean> {
    const renewed = await this.db.query(
      `UPDATE import_runs SET lease_until = ${LEASE_END} WHERE id = $1 AND claim = $2 AND state = 'running' RETURNING id`,
      [runId, claim, leaseMs],
    );
    return renewed.length > 0;
  }

  async recordBatch(runId: string, claim: string, outcome: BatchOutcome, leaseMs: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ state: string; rows_rejected: string }>(
        `UPDATE import_runs SET rows_read = rows_read + $4, rows_stored = rows_stored + $5,
                rows_rejected = rows_rejected + $6, checkpoint = $7::text::jsonb, position = $8,
                active_ms = active_ms + $9, updated_at = now(),
                lease_until = CASE WHEN state = 'running' THEN ${LEASE_END} END
          WHERE id = $1 AND claim = $2 AND state IN ('running', 'paused', 'cancelled')
         RETURNING state, rows_rejected - $6 AS rows_rejected`,
        [
          runId,
          claim,
          leaseMs,
          outcome.read,
          outcome.stored,
          outcome.rejections.length,
          JSON.stringify(outcome.checkpoint),
          outcome.position,
          outcome.activeMs,
        ],
      );
      if (!row) return false;
      const room = KEPT_REJECTIONS - Number(row.rows_rejected);
      const kept = outcome.rejections.slice(0, Math.max(0, room));
      if (kept.length > 0)
        await tx.query(
          `INSERT INTO import_rejections (run_id, row_ref, reason)
           SELECT $1, r.ref, r.reason FROM jsonb_to_recordset($2::text::jsonb) AS r(ref text, reason text)
           ON CONFLICT DO NOTHING`,
          [runId, JSON.stringify(kept)],
        );
      return row.state === 'running';
    });
  }

  async isRunning(runId: string, claim: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM import_runs WHERE id = $1 AND claim = $2 AND state = 'running'`, [
      runId,
      claim,
    ]);
    return rows.length > 0;
  }

  async finishRun(runId: string, claim: string, state: 'done' | 'failed', error?: string): Promise<void> {
    await this.db.query(
      `UPDATE import_runs SET state = $3, last_error = $4, finished_at = now(), updated_at = now(), claim = NULL,
              lease_until = NULL
        WHERE id = $1 AND claim = $2 AND state = 'running'`,
      [runId, claim, state, error ?? null],
    );
  }

  async transition(runId: string, from: readonly ImportRunState[], to: ImportRunState): Promise<ImportRun | undefined> {
    const move = async (tx: SqlExecutor) => {
      const [row] = await tx.query(
        `UPDATE import_runs SET state = $3, updated_at = now(),
                claim = CASE WHEN $3 = 'queued' THEN NULL ELSE claim END,
                lease_until = CASE WHEN $3 = 'running' THEN lease_until END,
                last_error = CASE WHEN $3 = 'queued' THEN NULL ELSE last_error END,
                finished_at = CASE WHEN $3 IN ('cancelled', 'done', 'failed') THEN now() END
          WHERE id = $1 AND state = ANY($2::text[]) RETURNING ${RUN}`,
        [runId, from, to],
      );
      return row && toRun(row);
    };
    if (to !== 'queued') return move(this.db);
    return this.db.transaction(async (tx) => {
      const [run] = await tx.query<{ import_id: string }>('SELECT import_id FROM import_runs WHERE id = $1', [runId]);
      if (!run) return undefined;
      const busy = await goingRunOf(tx, run.import_id);
      return busy && busy.id !== runId ? undefined : move(tx);
    });
  }

  async requeueUnfinished(): Promise<string[]> {
    // A run whose lease is live stays its holder's (a `meridian import` process, another process on this
    // database): its id is given too, and its job finds it held, looking again once the lease would run out.
    const rows = await this.db.query<{ id: string }>(
      `WITH lapsed AS (
         UPDATE import_runs SET state = 'queued', claim = NULL, lease_until = NULL, updated_at = now()
          WHERE state = 'queued' OR (state = 'running' AND coalesce(lease_until <= now(), true))
         RETURNING id)
       SELECT id FROM lapsed
       UNION
       SELECT id FROM import_runs WHERE state = 'running' AND lease_until > now()`,
    );
    return rows.map((row) => row.id);
  }
}
