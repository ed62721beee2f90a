import type { Database } from './database.js';
import { markedWith } from './session-marks.js';
import type { DueCriteria, HeartbeatPlan } from '../heartbeat/options.js';
import type { DueSessionFinder, ProfileShare, SessionCursor } from '../heartbeat/ports.js';
import { SystemEvent } from '../tracking/model.js';
import type { DueSession } from '../tracking/session-events.js';

/** last_event_at as exact, time-zone-independent text: it is compared back and hashed into event ids. */
const EXACT_ISO = `to_char(last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * What makes an idle session due, besides no current mark of the registered type ($5): for
 * visit-end, an open visit. /track keeps the visit state of its own visit-started / visit-ended
 * events on the session (status 'ended' until the next event reopens it), so for those types the
 * session row says it. Other types are looked up: the visit is open when the latest open event comes
 * after the latest close event, one pass over the session's events with the types only in FILTER (a
 * type condition in WHERE lets the planner start from a rare type's index and scan all events of that
 * type for every session).
 */
function dueSql(criteria: DueCriteria): { sql: string; openEventType: string | null } {
  if (criteria.kind === 'no-event-since-activity') return { sql: 'true', openEventType: null };
  if (criteria.openEventType === SystemEvent.visitStarted && criteria.closeEventType === SystemEvent.visitEnded) {
    return { sql: "s.status <> 'ended'", openEventType: null };
  }
  return {
    sql: `coalesce((
            SELECT max(e.seq) FILTER (WHERE e.type = $7) > coalesce(max(e.seq) FILTER (WHERE e.type = $5), 0)
              FROM events e WHERE e.session_id = s.id), false)`,
    openEventType: criteria.openEventType,
  };
}

/**
 * Due sessions straight from the (last activity, id) index, without reading those already handled.
 * Shares split profiles by a hash of their id (PostgreSQL's hashtext; any function would do, as
 * long as every lane of a run uses the same one).
 */
export class SqlDueSessions implements DueSessionFinder {
  constructor(private readonly db: Database) {}

  async countInRange(plan: HeartbeatPlan): Promise<number> {
    const [row] = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions WHERE last_event_at BETWEEN $1 AND $2', [
      plan.from,
      plan.to,
    ]);
    return row?.n ?? 0;
  }

  async page(plan: HeartbeatPlan, share: ProfileShare, after: SessionCursor | null, limit: number): Promise<DueSession[]> {
    const due = dueSql(plan.criteria);
    // The first page starts just before `from`: ids are never empty, so ('from', '') precedes them all.
    // The cursor travels as text: a driver would round a timestamp parameter to milliseconds.
    const start = after ?? { lastActivity: plan.from.toISOString(), id: '' };
    const params: unknown[] = [start.lastActivity, start.id, plan.to, plan.idleBefore, plan.eventType, limit];
    if (due.openEventType !== null) params.push(due.openEventType);
    const shareOf = `$${params.push(share.of)}`;
    const shareIndex = `$${params.push(share.index)}`;
    const rows = await this.db.query<{ id: string; profile_id: string; last_activity: string }>(
      `SELECT s.id, s.profile_id, ${EXACT_ISO} AS last_activity
         FROM sessions s
        WHERE (last_event_at, id) > ($1::text::timestamptz, $2::text) AND last_event_at <= $3 AND last_event_at < $4
          AND (hashtext(s.profile_id) & 2147483647) % ${shareOf}::int = ${shareIndex}::int
          AND NOT ${markedWith('$5')} AND ${due.sql}
        ORDER BY last_event_at, id LIMIT $6`,
      params,
    );
    return rows.map((row) => ({ id: row.id, profileId: row.profile_id, lastActivity: row.last_activity }));
  }
}
