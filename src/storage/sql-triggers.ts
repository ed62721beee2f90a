import type { ConsumedBatch, TriggerBacklog, TriggerStore } from '../triggers/ports.js';
import type { SegmentChange, SegmentRule, TriggerDecision, TriggeredRun } from '../triggers/trigger.js';
import { timeOrderedId } from '../shared/ids.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import { purgeInSlices } from './purge.js';
import type { Row } from './rows.js';

const toChange = (row: Row): SegmentChange => ({
  seq: Number(row.seq),
  segmentId: row.segment_id as string,
  profileId: row.profile_id as string,
  change: row.change as SegmentChange['change'],
  at: new Date(row.at as string | Date),
  profileExists: row.profile_exists as boolean,
});

const toRule = (row: Row): SegmentRule => ({
  id: row.id as string,
  kind: row.kind as SegmentRule['kind'],
  segmentId: row.segment_id as string,
  flowId: row.flow_id as string,
  enabled: row.enabled as boolean,
  flowEnabled: row.flow_enabled as boolean,
  createdAt: new Date(row.created_at as string | Date),
});

const RULE_COLUMNS = `r.id, r.kind, r.segment_id, r.flow_id, r.enabled, r.created_at, f.enabled AS flow_enabled
  FROM rules r JOIN flows f ON f.id = r.flow_id`;

/**
 * Claims the oldest unconsumed changes no other worker holds (SKIP LOCKED), and says which of them
 * are ready: a change is not while an earlier unconsumed change of its profile is outside this claim
 * (held by another worker, which skipping made us pass over). Such a change stays locked, unconsumed,
 * until this transaction ends, and is taken once the earlier one is consumed: a profile's changes are
 * handed out in outbox order. The earlier change's consumption is seen by this statement only once
 * committed, with its runs, so the runs of a later change are never recorded before an earlier one's.
 */
const CLAIM = `WITH claimed AS (
    SELECT seq, segment_id, profile_id, change, at FROM segment_changes
     WHERE consumed_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
  )
  SELECT c.*, p.id IS NOT NULL AS profile_exists,
         NOT EXISTS (SELECT 1 FROM segment_changes w
                      WHERE w.profile_id = c.profile_id AND w.consumed_at IS NULL AND w.seq < c.seq
                        AND w.seq NOT IN (SELECT seq FROM claimed)) AS ready
    FROM claimed c LEFT JOIN profiles p ON p.id = c.profile_id ORDER BY c.seq`;

/**
 * Records runs pending. A profile's runs are spaced a microsecond apart in the order given, after the
 * statement's start: the workflow worker takes runs by (created_at, id), and a later batch for the same
 * profile can only start once this one has committed, so its runs sort after these.
 */
async function recordRuns(db: SqlExecutor, runs: readonly TriggeredRun[]): Promise<number> {
  if (runs.length === 0) return 0;
  const rows = runs.map((run) => ({
    id: timeOrderedId(),
    flow_id: run.flowId,
    rule_id: run.ruleId,
    trigger: run.trigger,
    change_seq: run.changeSeq,
    profile_id: run.profileId,
    payload: run.payload,
    position: run.position,
  }));
  const inserted = await db.query(
    `INSERT INTO workflow_runs (id, flow_id, rule_id, trigger, change_seq, profile_id, payload, created_at)
     SELECT id, flow_id, rule_id, trigger, change_seq, profile_id, payload,
            statement_timestamp() + position * interval '1 microsecond'
       FROM jsonb_to_recordset($1::text::jsonb)
         AS r(id text, flow_id text, rule_id text, trigger text, change_seq bigint, profile_id text, payload jsonb,
              position int)
     ON CONFLICT DO NOTHING
     RETURNING 1`,
    [JSON.stringify(rows)],
  );
  return inserted.length;
}

export class SqlTriggers implements TriggerStore {
  constructor(private readonly db: Database) {}

  consume(
    limit: number,
    decideRuns: (changes: SegmentChange[], rules: SegmentRule[]) => TriggerDecision,
  ): Promise<ConsumedBatch> {
    return retryingTransaction(this.db, async (tx) => {
      const claimed = await tx.query(CLAIM, [limit]);
      const ready = claimed.filter((row) => row.ready).map(toChange);
      const done: ConsumedBatch = { claimed: claimed.length, consumed: ready.length, runs: 0, skipped: 0 };
      if (ready.length === 0) return done;
      const segments = [...new Set(ready.map((change) => change.segmentId))];
      const rules = await tx.query(
        `SELECT ${RULE_COLUMNS} WHERE r.kind <> 'event' AND r.segment_id = ANY($1::text[])`,
        [segments],
      );
      const decision = decideRuns(ready, rules.map(toRule));
      done.runs = await recordRuns(tx, decision.runs);
      done.skipped = decision.skipped.length;
      const reasons = new Map(decision.skipped.map((skip) => [skip.seq, skip.reason]));
      await tx.query(
        `UPDATE segment_changes c SET consumed_at = now(), skipped = s.reason
           FROM unnest($1::bigint[], $2::text[]) AS s(seq, reason)
          WHERE c.seq = s.seq`,
        [ready.map((change) => change.seq), ready.map((change) => reasons.get(change.seq) ?? null)],
      );
      return done;
    });
  }

  async backlog(): Promise<TriggerBacklog> {
    const [row] = await this.db.query(
      `SELECT (SELECT count(*)::int FROM segment_changes WHERE consumed_at IS NULL) AS unconsumed,
              (SELECT extract(epoch FROM now() - at)::float8 FROM segment_changes
                WHERE consumed_at IS NULL ORDER BY seq LIMIT 1) AS oldest_age,
              (SELECT count(*)::int FROM workflow_runs
                WHERE change_seq IS NOT NULL AND created_at > now() - interval '1 minute') AS runs_last_minute,
              (SELECT count(*)::int FROM segment_changes WHERE skipped IS NOT NULL) AS skipped`,
    );
    return {
      unconsumed: row!.unconsumed as number,
      oldestAgeSeconds: row!.oldest_age === null ? null : Math.max(0, Number(row!.oldest_age)),
      runsLastMinute: row!.runs_last_minute as number,
      skipped: row!.skipped as number,
    };
  }

  async findRule(id: string): Promise<SegmentRule | { id: string; kind: 'event' } | undefined> {
    const [row] = await this.db.query(`SELECT ${RULE_COLUMNS} WHERE r.id = $1`, [id]);
    if (!row) return undefined;
    return row.kind === 'event' ? { id, kind: 'event' } : toRule(row);
  }

  async changesSince(
    segmentId: string,
    change: SegmentChange['change'],
    since: Date,
    afterSeq: number,
    limit: number,
  ): Promise<SegmentChange[]> {
    const rows = await this.db.query(
      `SELECT c.seq, c.segment_id, c.profile_id, c.change, c.at, p.id IS NOT NULL AS profile_exists
         FROM segment_changes c LEFT JOIN profiles p ON p.id = c.profile_id
        WHERE c.seq > $4 AND c.segment_id = $1 AND c.change = $2 AND c.at >= $3
        ORDER BY c.seq LIMIT $5`,
      [segmentId, change, since, afterSeq, limit],
    );
    return rows.map(toChange);
  }

  record(runs: readonly TriggeredRun[]): Promise<number> {
    return recordRuns(this.db, runs);
  }

  purgeConsumedBefore(date: Date): Promise<number> {
    return purgeInSlices(
      this.db,
      { table: 'segment_changes', key: 'seq', condition: 'consumed_at IS NOT NULL AND at < $1' },
      date,
    );
  }
}
