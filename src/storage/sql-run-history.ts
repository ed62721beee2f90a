import type { Database } from './database.js';
import { purgeInSlices } from './purge.js';
import { iso, type Row } from './rows.js';
import type { NodeTrace, PauseState, RunStatus } from '../workflow/model.js';
import type { RunHistory, RunPage, RunRecord, RunSummary, RunTrigger } from '../workflow/ports.js';
import { DomainError } from '../shared/errors.js';

const SUMMARY_COLUMNS = `id, flow_id, rule_id, trigger, event_id, profile_id, session_id, status, attempts, error,
  created_at, started_at, finished_at, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us`;

const toSummary = (row: Row): RunSummary => {
  const startedAt = row.started_at as Date | null;
  const finishedAt = row.finished_at as Date | null;
  return {
    id: row.id as string,
    flowId: row.flow_id as string,
    ruleId: row.rule_id as string | null,
    trigger: row.trigger as RunTrigger,
    eventId: row.event_id as string | null,
    profileId: row.profile_id as string | null,
    sessionId: row.session_id as string | null,
    status: row.status as RunStatus,
    attempts: row.attempts as number,
    error: row.error as RunRecord['error'],
    createdAt: iso(row.created_at)!,
    startedAt: iso(startedAt),
    finishedAt: iso(finishedAt),
    durationMs: startedAt && finishedAt ? finishedAt.getTime() - startedAt.getTime() : null,
  };
};

/**
 * A page ends at a run's creation time in microseconds (a Date keeps only milliseconds, and runs made
 * in the same millisecond must not be skipped) and its id, which breaks ties.
 */
function parseCursor(cursor: string): { createdUs: string; id: string } {
  const match = /^(\d{1,19})_(.+)$/.exec(cursor);
  if (!match) {
    throw new DomainError('validation_failed', 'invalid cursor', [
      { field: 'cursor', message: 'expected the `next` of the previous page' },
    ]);
  }
  return { createdUs: match[1]!, id: match[2]! };
}

const FINISHED_RUNS = {
  table: 'workflow_runs',
  key: 'id',
  condition: `finished_at < $1 AND status IN ('completed', 'failed') AND NOT raises_pending`,
};

export class SqlRunHistory implements RunHistory {
  constructor(private readonly db: Database) {}

  async listForFlow(flowId: string, limit: number, cursor?: string): Promise<RunPage> {
    const after = cursor === undefined ? undefined : parseCursor(cursor);
    // Only the bound present is written: a `$n IS NULL OR …` form would keep the generic plan off the index.
    const rows = after
      ? await this.db.query(
          `SELECT ${SUMMARY_COLUMNS} FROM workflow_runs
            WHERE flow_id = $1 AND (created_at, id) < (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::text)
            ORDER BY created_at DESC, id DESC LIMIT $4`,
          [flowId, after.createdUs, after.id, limit + 1],
        )
      : await this.db.query(
          `SELECT ${SUMMARY_COLUMNS} FROM workflow_runs WHERE flow_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [flowId, limit + 1],
        );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toSummary),
      next: rows.length > limit && last ? `${last.created_us as string}_${last.id as string}` : null,
    };
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const [row] = await this.db.query(
      `SELECT ${SUMMARY_COLUMNS}, trace, response, ux, pause FROM workflow_runs WHERE id = $1`,
      [id],
    );
    return (
      row && {
        ...toSummary(row),
        trace: row.trace as NodeTrace[],
        response: row.response as Record<string, unknown>,
        ux: row.ux as unknown[],
        pause: row.pause as PauseState | null,
      }
    );
  }

  purgeRunsBefore(date: Date): Promise<number> {
    return purgeInSlices(this.db, FINISHED_RUNS, date);
  }
}
