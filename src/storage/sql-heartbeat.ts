import type { Database } from './database.js';
import type { DueCriteria, HeartbeatPlan } from '../heartbeat/options.js';
import type { DueSessionFinder, SessionCursor, SessionPage } from '../heartbeat/ports.js';

/** last_event_at as exact, time-zone-independent text: it is compared back and hashed into event ids. */
const EXACT_ISO = `to_char(last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * `$5` is the plan's idle threshold; the criteria's own parameters follow. Each check is one pass over
 * the session's events with the type only in FILTER: a type condition in WHERE lets the planner start
 * from a rare type's index (few close events yet) and scan all of that type for every session.
 */
function dueSql(criteria: DueCriteria): { sql: string; params: string[] } {
  if (criteria.kind === 'no-event-since-activity') {
    return {
      sql: `last_event_at < $5 AND (
              SELECT count(*) FILTER (WHERE e.type = $6 AND e.inserted_at >= page.last_event_at) = 0
                FROM events e WHERE e.session_id = page.id)`,
      params: [criteria.eventType],
    };
  }
  // The latest open event comes after the latest close event: the visit it opened is still open.
  return {
    sql: `last_event_at < $5 AND coalesce((
            SELECT max(e.seq) FILTER (WHERE e.type = $6) > coalesce(max(e.seq) FILTER (WHERE e.type = $7), 0)
              FROM events e WHERE e.session_id = page.id), false)`,
    params: [criteria.openEventType, criteria.closeEventType],
  };
}

/**
 * One statement per page: the next `limit` sessions in range in (last activity, id) order (an index
 * range scan), of which only the due ones and the last one (the next cursor) come back.
 */
export class SqlDueSessions implements DueSessionFinder {
  constructor(private readonly db: Database) {}

  async page(plan: HeartbeatPlan, after: SessionCursor | null, limit: number): Promise<SessionPage> {
    const due = dueSql(plan.criteria);
    // The first page starts just before `from`: ids are never empty, so ('from', '') precedes them all.
    // The cursor travels as text: a driver would round a timestamp parameter to milliseconds.
    const start = after ?? { lastActivity: plan.from.toISOString(), id: '' };
    const rows = await this.db.query<{ id: string; profile_id: string; last_activity: string; due: boolean; n: number; scanned: number }>(
      `WITH page AS (
         SELECT id, profile_id, last_event_at FROM sessions
          WHERE (last_event_at, id) > ($1::text::timestamptz, $2::text) AND last_event_at <= $3
          ORDER BY last_event_at, id LIMIT $4
       ), ranked AS (
         SELECT id, profile_id, ${EXACT_ISO} AS last_activity, ${due.sql} AS due,
                row_number() OVER (ORDER BY last_event_at, id)::int AS n, count(*) OVER ()::int AS scanned
           FROM page
       )
       SELECT * FROM ranked WHERE due OR n = scanned ORDER BY n`,
      [start.lastActivity, start.id, plan.to, limit, plan.idleBefore, ...due.params],
    );
    const last = rows[rows.length - 1];
    const scanned = last?.scanned ?? 0;
    return {
      scanned,
      due: rows.filter((row) => row.due).map((row) => ({ id: row.id, profileId: row.profile_id, lastActivity: row.last_activity })),
      next: last && scanned === limit ? { lastActivity: last.last_activity, id: last.id } : null,
    };
  }
}
