import { isRetryable, isUniqueViolation, retryingTransaction, type Database, type SqlExecutor } from './database.js';
import { insertEventsFrom, type OnDuplicateEvent } from './event-insert.js';
import { upToMillisecond } from './time-bounds.js';
import { addMark, markedWith } from './session-marks.js';
import { lockSurvivors } from './profile-locks.js';
import type { HeartbeatPlan } from '../heartbeat/options.js';
import type { DueSlice, HeartbeatStore } from '../heartbeat/ports.js';
import { SystemEvent } from '../tracking/model.js';
import { runCommitSteps, type CommitStep, type CommittedEvent } from '../tracking/commit-steps.js';
import { UNKNOWN_SOURCE_ID, type DueSession, type SessionEffect } from '../heartbeat/session-events.js';

/** A timestamp as exact, time-zone-independent text: last activity is compared back and hashed into event ids. */
const exactIso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** How each effect changes a session, at the registration time in `nowParam`. */
const SESSION_EFFECT_SQL: Record<SessionEffect, (nowParam: string) => string> = {
  'mark-inactive': () => 'inactive = true',
  'end-visit': (nowParam) => `status = 'ended', visit_ended_at = ${nowParam}`,
};

/**
 * One event per (session, type, last activity): a re-run, or a second run started at the same moment,
 * derives the same id and the store keeps it once. SHA-256 over the three, NUL separated, taken where
 * the session row is at hand (`s`), its first 6 bytes replaced by the last activity's milliseconds
 * since the epoch, big-endian, as a UUIDv7 leads with its time: the slices register in order of last
 * activity, so a run's ids go into a narrow, cached stretch of the events' id index instead of
 * touching its every page. eventIdFromDigest shapes it.
 */
const sessionEventDigest = (typeParam: string) =>
  `overlay(sha256(convert_to(s.id, 'UTF8') || '\\x00'::bytea || convert_to(${typeParam}, 'UTF8') || '\\x00'::bytea || convert_to(${exactIso('s.last_event_at')}, 'UTF8'))
           PLACING substring(int8send(floor(extract(epoch FROM s.last_event_at) * 1000)::bigint) FROM 3 FOR 6) FROM 1 FOR 6)`;

/**
 * The digest's first 16 bytes shaped as a UUID (version 8, name-based). Plain expressions over the
 * column: a scalar subquery would cost a subplan per row.
 */
const eventIdFromDigest = (digest: string) =>
  `encode(set_byte(set_byte(substring(${digest} FROM 1 FOR 16), 6, (get_byte(${digest}, 6) & 15) | 128), 8, (get_byte(${digest}, 8) & 63) | 128), 'hex')::uuid::text`;

/**
 * The profiles that the profile ids of the sessions in `sessions` (a CTE) were merged into (imported
 * data: a session may still carry the id of a profile merged into another), each merged id that no
 * profile has as its own with its survivor. /track stores such a session's events under the survivor,
 * and so does the job. Looking every id of a slice up in the merged-ids index costs every slice
 * time, so it is done only when `mergesParam` says the store has a merged profile at all.
 */
const survivorsOf = (sessions: string, mergesParam: string) => `SELECT DISTINCT ON (merged_id) m.id, merged_id
    FROM profiles m, unnest(m.ids) AS merged_id
   WHERE ${mergesParam}::boolean AND m.ids <> '{}' AND m.ids && ARRAY(SELECT DISTINCT profile_id FROM ${sessions})
     AND NOT EXISTS (SELECT 1 FROM profiles own WHERE own.id = merged_id)
   ORDER BY merged_id, m.id`;

/**
 * Whether the store has a profile with merged ids, asked once a run: `@> '{}'` matches every entry, so
 * PostgreSQL reads the partial merged-ids index whole (empty unless merges were imported); PGlite, with
 * no statistics, scans the profiles.
 */
const ANY_MERGED_SQL = `SELECT EXISTS (SELECT 1 FROM profiles WHERE ids <> '{}' AND ids @> '{}') AS present`;

/**
 * Flags inactive the profiles in $1 left with no active session, at $2. OFFSET 0 keeps each NOT EXISTS
 * a probe of sessions_profile per profile: as an anti-join, the planner hashes every active session of
 * the store for each slice. `withMerges`: a survivor's sessions also count those still carrying an id
 * merged into it that no profile has as its own (as survivorsOf resolves them), each probed by its id
 * (one `= ANY` probe over all of a profile's ids scanned every session on PGlite, which has no
 * statistics). Without merges in the store that part is left out, and so are profiles that list merged
 * ids (one imported meanwhile stays active until the next run): its estimated cost alone, though it
 * never runs, made PostgreSQL JIT-compile the statement for every slice.
 */
export function flagInactiveSql(withMerges: boolean): string {
  const merged = withMerges
    ? `(p.ids = '{}' OR NOT EXISTS (
        SELECT 1 FROM unnest(p.ids) AS merged_id
         WHERE NOT EXISTS (SELECT 1 FROM profiles own WHERE own.id = merged_id OFFSET 0)
           AND EXISTS (SELECT 1 FROM sessions s WHERE s.profile_id = merged_id AND NOT s.inactive OFFSET 0)))`
    : `p.ids = '{}'`;
  return `UPDATE profiles p SET active = false, updated_at = $2, version = p.version + 1
  WHERE p.id = ANY($1::text[]) AND p.active AND ${merged}
    AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.profile_id = p.id AND NOT s.inactive OFFSET 0)`;
}

/** A statement's parameters, numbered as they are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    return `$${this.values.push(value)}`;
  }
}

/**
 * The plan's due sessions (`s`): last activity in range and before the idle threshold, no current
 * mark of the registered type, and for visit-end an open visit. /track keeps the visit state of its own
 * visit-started / visit-ended events on the session (status 'ended' until the next event reopens it),
 * so for those types the session row says it. Other types are looked up: the visit is open when the
 * latest open event comes after the latest close event, one pass over the session's events with the
 * types only in FILTER (a type condition in WHERE lets the planner start from a rare type's index and
 * scan all events of that type for every session).
 */
function dueSql(plan: HeartbeatPlan, params: Params): string {
  const type = params.add(plan.eventType);
  const conditions = [
    `s.last_event_at >= ${params.add(plan.from)}`,
    upToMillisecond('s.last_event_at', params.add(plan.to)),
    `s.last_event_at < ${params.add(plan.idleBefore)}`,
    `NOT ${markedWith(type)}`,
  ];
  const { criteria } = plan;
  if (criteria.kind === 'open-visit') {
    if (criteria.openEventType === SystemEvent.visitStarted && criteria.closeEventType === SystemEvent.visitEnded) {
      conditions.push("s.status <> 'ended'");
    } else {
      conditions.push(`coalesce((
        SELECT max(e.seq) FILTER (WHERE e.type = ${params.add(criteria.openEventType)}) > coalesce(max(e.seq) FILTER (WHERE e.type = ${type}), 0)
          FROM events e WHERE e.session_id = s.id), false)`);
    }
  }
  return conditions.join(' AND ');
}

/** Which of `of` shares a session's profile is in (PostgreSQL's hashtext; any function would do, if every lane uses it). */
const shareOf = (ofParam: string) => `(hashtext(s.profile_id) & 2147483647) % ${ofParam}::int`;

/** The slice's sessions still due. The cursors travel as text: a driver would round a timestamp to milliseconds. */
function sliceSql(plan: HeartbeatPlan, slice: DueSlice, params: Params): string {
  const cursor = (at: string, id: string) => `(${params.add(at)}::text::timestamptz, ${params.add(id)}::text)`;
  return `(s.last_event_at, s.id) BETWEEN ${cursor(slice.first.lastActivity, slice.first.id)} AND ${cursor(slice.last.lastActivity, slice.last.id)}
      AND ${shareOf(params.add(slice.share.of))} = ${params.add(slice.share.index)}::int AND ${dueSql(plan, params)}`;
}

/** The events a registration stored, from the `[id, profile_id, session_id, source_id]` rows its statement returns. */
function registeredEvents(rows: string | null, type: string, occurredAt: Date): CommittedEvent[] {
  if (rows === null) return [];
  return (JSON.parse(rows) as [string, string, string, string][]).map(([id, profileId, sessionId, sourceId]) => ({
    id,
    type,
    profileId,
    sessionId,
    sourceId,
    occurredAt,
  }));
}

/**
 * The heartbeat's storage: due sessions straight from the (last activity, id) index, and their
 * registration in the database, through the event insert /track uses.
 */
export class SqlHeartbeatStore implements HeartbeatStore {
  /** Per run (its plan): whether the store has merged profiles, asked once. */
  private readonly merges = new WeakMap<HeartbeatPlan, Promise<boolean>>();

  constructor(
    private readonly db: Database,
    private readonly steps: readonly CommitStep<SqlExecutor>[],
  ) {}

  private hasMerges(plan: HeartbeatPlan): Promise<boolean> {
    let answer = this.merges.get(plan);
    if (answer === undefined) {
      answer = this.db.query<{ present: boolean }>(ANY_MERGED_SQL).then(([row]) => row?.present === true);
      this.merges.set(plan, answer);
    }
    return answer;
  }

  async countInRange(plan: HeartbeatPlan): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sessions WHERE last_event_at >= $1 AND ${upToMillisecond('last_event_at', '$2')}`,
      [plan.from, plan.to],
    );
    return row?.n ?? 0;
  }

  /** One pass over the range numbers each share's due sessions; only the slices' first and last rows come back. */
  async slices(plan: HeartbeatPlan, shares: number, size: number): Promise<DueSlice[]> {
    const params = new Params();
    const of = params.add(shares);
    const due = dueSql(plan, params);
    const every = `${params.add(size)}::int`;
    const rows = await this.db.query<{ share: number; n: number; last: boolean; last_activity: string; id: string }>(
      `SELECT share, n::int, (n % ${every} = 0 OR n = total) AS last, ${exactIso('last_event_at')} AS last_activity, id
         FROM (SELECT share, last_event_at, id,
                      row_number() OVER (PARTITION BY share ORDER BY last_event_at, id) AS n,
                      count(*) OVER (PARTITION BY share) AS total
                 FROM (SELECT ${shareOf(of)} AS share, s.last_event_at, s.id FROM sessions s WHERE ${due}) due) numbered
        WHERE (n - 1) % ${every} = 0 OR n % ${every} = 0 OR n = total
        ORDER BY share, n`,
      params.values,
    );
    const slices: DueSlice[] = [];
    let first: (typeof rows)[number] | undefined;
    for (const row of rows) {
      first ??= row;
      if (!row.last) continue;
      slices.push({
        share: { index: row.share, of: shares },
        first: { lastActivity: first.last_activity, id: first.id },
        last: { lastActivity: row.last_activity, id: row.id },
        size: row.n - first.n + 1,
      });
      first = undefined;
    }
    return slices;
  }

  async dueIn(plan: HeartbeatPlan, slice: DueSlice): Promise<DueSession[]> {
    const params = new Params();
    const merges = params.add(await this.hasMerges(plan));
    const rows = await this.db.query<{ id: string; profile_id: string; last_activity: string }>(
      `WITH due AS (
         SELECT s.id, s.profile_id, s.last_event_at FROM sessions s WHERE ${sliceSql(plan, slice, params)}
       ), survivors AS (
         ${survivorsOf('due', merges)}
       )
       SELECT d.id, coalesce(g.id, d.profile_id) AS profile_id, ${exactIso('d.last_event_at')} AS last_activity
         FROM due d LEFT JOIN survivors g ON g.merged_id = d.profile_id
        ORDER BY d.last_event_at, d.id`,
      params.values,
    );
    return rows.map((row) => ({ id: row.id, profileId: row.profile_id, lastActivity: row.last_activity }));
  }

  /**
   * The first statement changes the slice's sessions still due, with every condition in its WHERE:
   * their row locks make a concurrent /track or run wait, and the re-check after the wait skips a
   * session that moved on or that the other run marked. It marks them and stores one event each
   * through the one event insert, its id derived in the database. For mark-inactive the next one locks
   * the sessions' profiles, and a later one flags those left with no active session. Then the commit steps run, as
   * in /track (post-event segmentation queues the profiles). Tables are locked in /track's order:
   * sessions, profiles, pending (sessions in the scan's order, not by id: see the
   * Heartbeat section of docs/architecture.md).
   */
  async register(plan: HeartbeatPlan, slice: DueSlice, metadata: Record<string, unknown>, now: Date): Promise<number> {
    // Asked before the transaction: on PGlite it holds the one connection.
    const hasMerges = await this.hasMerges(plan);
    // The marks rule out a second event for the same inactivity, so the insert fails rather than skips
    // on an id already stored; should one be there all the same (a mark lost by a writer that moved a
    // session's activity back), the slice runs again keeping the stored event.
    let onDuplicate: OnDuplicateEvent = 'fail';
    const retryIf = (error: unknown) => {
      if (!isUniqueViolation(error)) return isRetryable(error);
      onDuplicate = 'keep-stored';
      return true;
    };
    return retryingTransaction(
      this.db,
      async (tx) => {
        const params = new Params();
        const at = params.add(now);
        const type = params.add(plan.eventType);
        const merges = params.add(hasMerges);
        // The metadata's JSON sits in a scalar subquery so that a generic plan parses it once, not per row.
        const [row] = await tx.query<{ stored: number; profiles: string[]; events: string | null }>(
          `WITH changed AS (
           UPDATE sessions s SET ${SESSION_EFFECT_SQL[plan.effect](at)}, updated_at = ${at}, ${addMark(type)}
            WHERE ${sliceSql(plan, slice, params)}
           RETURNING s.id, s.profile_id, s.source_id, ${exactIso('s.last_event_at')} AS last_activity, ${sessionEventDigest(type)} AS digest
         ), survivors AS (
           ${survivorsOf('changed', merges)}
         ), owned AS (
           SELECT c.*, coalesce(g.id, c.profile_id) AS owner_id FROM changed c LEFT JOIN survivors g ON g.merged_id = c.profile_id
         ), registered AS (
           SELECT ${eventIdFromDigest('c.digest')} AS id, ${type} AS type, c.owner_id AS profile_id, c.id AS session_id,
                  coalesce(c.source_id, ${params.add(UNKNOWN_SOURCE_ID)}) AS source_id,
                  '{}'::jsonb AS properties, '{}'::jsonb AS traits, '{}'::jsonb AS context, '{}'::text[] AS tags,
                  (SELECT ${params.add(JSON.stringify({ ...metadata, system: true }))}::text::jsonb) || jsonb_build_object('lastActivity', c.last_activity) AS metadata,
                  ${at}::timestamptz AS occurred_at, ${at}::timestamptz AS inserted_at
             FROM owned c
         ), stored AS (
           ${insertEventsFrom('registered', onDuplicate)} RETURNING id, profile_id, session_id, source_id
         )
         SELECT (SELECT count(*) FROM stored)::int AS stored,
                ARRAY(SELECT DISTINCT owner_id FROM owned) AS profiles,
                (SELECT json_agg(json_build_array(id, profile_id, session_id, source_id)) FROM stored)::text AS events`,
          params.values,
        );
        const { stored, profiles } = row!;
        let events = registeredEvents(row!.events, plan.eventType, now);
        // Lock first, decide in a later statement: its fresh snapshot sees a session that a concurrent
        // /track opened for the profile, or that another run marked, while we waited for the lock.
        if (plan.effect === 'mark-inactive' && profiles.length > 0) {
          const mergedInto = await lockSurvivors(tx, profiles);
          const owners = [...new Set(profiles.map((id) => mergedInto.get(id) ?? id))];
          await tx.query(flagInactiveSql(hasMerges || mergedInto.size > 0), [owners, now]);
          // The events keep the id they were stored with, which the survivor's `ids` resolves; the steps
          // after (segmentation, workflow runs) need the profile that exists.
          events = events.map((event) => ({
            ...event,
            profileId: mergedInto.get(event.profileId!) ?? event.profileId,
          }));
        }
        const storedProfiles = new Set(events.map((event) => event.profileId!));
        await runCommitSteps(this.steps, tx, {
          writer: 'heartbeat',
          events,
          profiles: [...storedProfiles].map((id) => ({ id, eventTypes: [plan.eventType] })),
        });
        return stored;
      },
      retryIf,
    );
  }
}
