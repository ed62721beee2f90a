import type { BridgeState, BridgeStatus, BridgeStatusStore } from '../bridges/status.js';
import type { Database } from './database.js';
import { iso, type Row } from './rows.js';

/** Rows of processes silent for this long are deleted by the next publish of any process. */
const FORGET_AFTER = '1 day';

const toStatus = (row: Row): BridgeStatus => ({
  processId: row.process_id as string,
  host: row.host as string,
  pid: row.pid as number,
  kind: row.kind as string,
  sourceId: row.source_id as string,
  state: row.state as BridgeState,
  received: Number(row.received),
  stored: Number(row.stored),
  deadLettered: Number(row.dead_lettered),
  retried: Number(row.retried),
  rate: Number(row.rate),
  lastError: (row.last_error as string | null) ?? null,
  lastErrorAt: iso(row.last_error_at),
  startedAt: iso(row.started_at)!,
  heartbeatAt: iso(row.heartbeat_at)!,
});

export class SqlBridgeStatus implements BridgeStatusStore {
  constructor(private readonly db: Database) {}

  async publish(processId: string, rows: readonly BridgeStatus[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `DELETE FROM bridge_status WHERE process_id = $1 OR heartbeat_at < now() - interval '${FORGET_AFTER}'`,
        [processId],
      );
      if (rows.length === 0) return;
      await tx.query(
        `INSERT INTO bridge_status (process_id, source_id, kind, host, pid, state, received, stored, dead_lettered,
                                    retried, rate, last_error, last_error_at, started_at, heartbeat_at)
         SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS r(
           process_id text, source_id text, kind text, host text, pid integer, state text, received bigint,
           stored bigint, dead_lettered bigint, retried bigint, rate double precision, last_error text,
           last_error_at timestamptz, started_at timestamptz, heartbeat_at timestamptz)`,
        [
          JSON.stringify(
            rows.map((row) => ({
              process_id: row.processId,
              source_id: row.sourceId,
              kind: row.kind,
              host: row.host,
              pid: row.pid,
              state: row.state,
              received: row.received,
              stored: row.stored,
              dead_lettered: row.deadLettered,
              retried: row.retried,
              rate: row.rate,
              last_error: row.lastError,
              last_error_at: row.lastErrorAt,
              started_at: row.startedAt,
              heartbeat_at: row.heartbeatAt,
            })),
          ),
        ],
      );
    });
  }

  async remove(processId: string): Promise<void> {
    await this.db.query('DELETE FROM bridge_status WHERE process_id = $1', [processId]);
  }

  async list(): Promise<BridgeStatus[]> {
    return (await this.db.query('SELECT * FROM bridge_status ORDER BY kind, source_id, host, pid')).map(toStatus);
  }
}
