import type { SqlExecutor, Database } from './database.js';
import { isRetryable, isUniqueViolation, retryingTransaction } from './database.js';
import type { EventRecord, ProfileState, SessionState, SessionStatus } from '../tracking/model.js';
import type {
  AppendBatch,
  AppendOutcome,
  BatchKeys,
  BatchWrites,
  HistoryStore,
  HistoryWrites,
  LockedBatch,
  TrackingStore,
} from '../tracking/ports.js';
import { StoredEventId } from '../tracking/ports.js';
import { DEFAULT_SQL_MAPPING, documentFromRow } from '../condition/index.js';
import { deepEquals } from '../condition/values.js';
import type { ProfileDocument } from '../mapping/apply.js';
import { writableProfileColumns } from './rows.js';
import { insertEventsFrom, type OnDuplicateEvent } from './event-insert.js';
import { textArray } from './text-array.js';
import { recordAppliedMappings } from './sql-mappings.js';

/**
 * Another transaction created a session, or a profile with a client's own id (a Segment userId), or
 * stored an event with a client's id, that this batch was about to create: run the batch again,
 * which reads it.
 */
class CreationRace extends Error {}

interface SessionRow {
  id: string;
  profile_id: string;
  source_id: string | null;
  status: SessionStatus;
  events_count: number;
  visit_started_at: Date;
  visit_ended_at: Date | null;
  last_event_at: Date;
  inactive: boolean;
  created_at: Date;
  device: Record<string, unknown>;
  os: Record<string, unknown>;
  app: Record<string, unknown>;
  context: Record<string, unknown>;
  [key: string]: unknown;
}

interface ProfileRow {
  id: string;
  ids: string[];
  visits: number;
  last_visit_at: Date | null;
  current_visit_at: Date | null;
  active: boolean;
  created_at: Date;
  [key: string]: unknown;
}

const toSession = (row: SessionRow): SessionState => ({
  id: row.id,
  profileId: row.profile_id,
  sourceId: row.source_id,
  status: row.status,
  eventsCount: row.events_count,
  visitStartedAt: row.visit_started_at,
  visitEndedAt: row.visit_ended_at,
  lastEventAt: row.last_event_at,
  inactive: row.inactive,
  createdAt: row.created_at,
  facts: { device: row.device, os: row.os, app: row.app, context: row.context },
});

const toProfile = (row: ProfileRow): ProfileState => ({
  id: row.id,
  ids: row.ids,
  visits: row.visits,
  lastVisitAt: row.last_visit_at,
  currentVisitAt: row.current_visit_at,
  active: row.active,
  createdAt: row.created_at,
});

/** What a profile's visits set: all a new profile of an import's commit holds. */
const PROFILE_VISITS_RECORD = `id text, visits int, last_visit_at timestamptz, current_visit_at timestamptz,
  active boolean, created_at timestamptz, updated_at timestamptz`;
const PROFILE_RECORD = `${PROFILE_VISITS_RECORD}, traits jsonb, pii jsonb, data jsonb, stats jsonb, consents jsonb, segments text[]`;
const SESSION_RECORD = `id text, profile_id text, source_id text, status text, device jsonb, os jsonb, app jsonb,
  context jsonb, inactive boolean, events_count int, visit_started_at timestamptz, visit_ended_at timestamptz,
  created_at timestamptz, last_event_at timestamptz, updated_at timestamptz`;
export const CHANGED_SESSION_RECORD = `id text, profile_id text, status text, device jsonb, inactive boolean,
  visit_started_at timestamptz, visit_ended_at timestamptz, last_event_at timestamptz, updated_at timestamptz, gained int`;
export const EVENT_RECORD = `id text, type text, profile_id text, session_id text, source_id text, properties jsonb,
  traits jsonb, context jsonb, tags text[], metadata jsonb, occurred_at timestamptz, inserted_at timestamptz`;

/** A record's columns (`id text, visits int, …`) as name and type. */
const columnsOf = (record: string) => record.split(',').map((column) => column.trim().split(/\s+/) as [string, string]);

/**
 * The rows of a record read from text arrays, one parameter a column from `$first` on (`columnArrays`
 * makes them): PostgreSQL parses text arrays for a fraction of what the same rows cost it as a JSON
 * document, a difference a statement storing thousands of rows feels.
 */
function unnestedRecord(record: string, first: number): string {
  const columns = columnsOf(record);
  return `(SELECT ${columns.map(([name, type]) => `${name}::${type} AS ${name}`).join(', ')}
     FROM unnest(${columns.map((_, at) => `$${first + at}::text[]`).join(', ')}) AS u(${columns.map(([name]) => name).join(', ')}))`;
}

/** The parameters of `unnestedRecord`: a text array a column, each row's value as PostgreSQL reads its type from text. */
function columnArrays(record: string, rows: readonly Record<string, unknown>[]): string[] {
  return columnsOf(record).map(([name, type]) =>
    textArray(
      rows.map((row) => {
        const value = row[name];
        if (value === null || value === undefined) return null;
        // Most of a new person's JSON columns are empty: spared a stringify and an escape.
        if (type === 'jsonb') return isEmptyObject(value) ? '{}' : JSON.stringify(value);
        if (type === 'text[]') return textArray(value as string[]);
        return typeof value === 'string' ? value : String(value);
      }),
    ),
  );
}

function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) if (Object.hasOwn(value, key)) return false;
  return true;
}

/** The profile ids the batch's sessions carry. */
const SESSION_PROFILES = 'ARRAY(SELECT profile_id FROM sessions WHERE id = ANY($2::text[]))';

/*
 * Updates from jsonb_to_recordset, and the append's join of its rows to their sessions, also name
 * their ids as an array: the planner cannot estimate a function's rows, and without an index
 * condition it may hash-join against a scan of the table.
 */

/**
 * The store of /track's commit use case (`tracking/commit.ts`), with a fixed number of statements
 * whatever the batch size: on PostgreSQL three round trips, BEGIN with the locking reads
 * (pipelined), the writes with the commit steps (pipelined: none depends on another's result),
 * COMMIT. Round trips, not CPU, bound a flush.
 */
export class SqlTrackingStore implements TrackingStore<SqlExecutor>, HistoryStore<SqlExecutor> {
  constructor(private readonly db: Database) {}

  /** Runs `work` in a transaction, again after a deadlock, a serialization failure or a session race. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return retryingTransaction(this.db, work, (error) => error instanceof CreationRace || isRetryable(error));
  }

  lock(tx: SqlExecutor, keys: BatchKeys): Promise<LockedBatch> {
    return this.read(tx, keys, 'ORDER BY id FOR UPDATE', 'ORDER BY id FOR UPDATE');
  }

  /**
   * What lock reads, for a writer whose updates are relative (`writeHistory`): the profiles unlocked,
   * the sessions share-locked, so that one a concurrent writer ends the visit of, moves or deletes is
   * read as it committed it (events written on a session read before its deletion would outlive it).
   */
  peek(tx: SqlExecutor, keys: BatchKeys): Promise<LockedBatch> {
    return this.read(tx, keys, 'ORDER BY id FOR SHARE', '');
  }

  private async read(
    tx: SqlExecutor,
    { sessionIds, profileIds, eventIds, wholeProfiles }: BatchKeys,
    sessionLock: 'ORDER BY id FOR UPDATE' | 'ORDER BY id FOR SHARE',
    profileLock: 'ORDER BY id FOR UPDATE' | '',
  ): Promise<LockedBatch> {
    // Event-to-profile mappings and flows read and write the whole profile; plain tracking needs its counters only.
    const profileColumns = wholeProfiles ? '*' : 'id, ids, visits, last_visit_at, current_visit_at, active, created_at';
    const [sessions, byId, alreadyStored] = await Promise.all([
      sessionIds.length === 0
        ? []
        : tx.query<SessionRow>(
            `SELECT id, profile_id, source_id, status, events_count, visit_started_at, visit_ended_at, last_event_at,
                    inactive, created_at, device, os, app, context
               FROM sessions WHERE id = ANY($1::text[]) ${sessionLock}`,
            [sessionIds],
          ),
      // The sessions' own profiles are found in SQL, so this read need not wait for the one above
      // (as an array, not `OR id IN (…)`, which would make PostgreSQL scan every profile). By id
      // only: the merged ids' index is asked for the ids not found here, below.
      profileIds.length === 0 && sessionIds.length === 0
        ? []
        : tx.query<ProfileRow>(
            `SELECT ${profileColumns} FROM profiles WHERE id = ANY($1::text[] || ${SESSION_PROFILES}) ${profileLock}`,
            [profileIds, sessionIds],
          ),
      eventIds.length === 0
        ? []
        : tx.query<{ id: string }>('SELECT id FROM events WHERE id = ANY($1::text[])', [eventIds]),
    ]);
    const profiles: ProfileRow[] = [...byId];
    // A profile found holds its merged ids: a named one of them needs no other read.
    const found = new Set(profiles.flatMap((row) => [row.id, ...row.ids]));
    const missing = unique([...profileIds, ...sessions.map((row) => row.profile_id)]).filter((id) => !found.has(id));
    if (missing.length > 0) {
      // An id no profile has may be a merged id (a session keeps the id of a profile merged away
      // since; a client may send one): its survivor holds it. Read after the one above, this also
      // finds the survivor of a merge done while the batch waited for the lock.
      const survivors = await tx.query<ProfileRow>(
        `SELECT ${profileColumns} FROM profiles WHERE ids <> '{}' AND ids && $1::text[] ${profileLock}`,
        [missing],
      );
      const known = new Set(profiles.map((row) => row.id));
      profiles.push(...survivors.filter((row) => !known.has(row.id)));
    }
    return {
      sessions: sessions.map(toSession),
      profiles: profiles.map(toProfile),
      documents: new Map(
        !wholeProfiles
          ? []
          : profiles.map((row) => [row.id, documentFromRow(DEFAULT_SQL_MAPPING.profile!, row) as ProfileDocument]),
      ),
      storedEventIds: new Set(alreadyStored.map((row) => row.id)),
    };
  }

  async write(tx: SqlExecutor, writes: BatchWrites): Promise<Set<string>> {
    const [stored] = await Promise.all([writeVisits(tx, writes), recordAppliedMappings(tx, writes.appliedMappings)]);
    return stored;
  }

  async writeHistory(tx: SqlExecutor, writes: HistoryWrites): Promise<Set<string>> {
    const rows = rowsOf(writes.now, new Map());
    const notStored = await tx
      .query<{ id: string }>(WRITE_HISTORY, [
        ...columnArrays(EVENT_RECORD, writes.events.map(rows.event)),
        ...columnArrays(
          PROFILE_VISITS_RECORD,
          writes.newProfiles.map((profile) => rows.profile(profile)),
        ),
        ...columnArrays(SESSION_RECORD, writes.newSessions.map(rows.newSession)),
        textArray(writes.touchedSessionIds),
        writes.now.toISOString(),
      ])
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? new CreationRace() : error;
      });
    const stored = new Set(writes.events.map((event) => event.id));
    for (const { id } of notStored) stored.delete(id);
    return stored;
  }

  async appendEvents(
    tx: SqlExecutor,
    { sourceId, events, now }: AppendBatch,
    idsMayBeStored: boolean,
  ): Promise<AppendOutcome> {
    // Only an import that maps them sends a context and tags: the others' statement has no column for them.
    const extra = {
      context: events.some((event) => event.context !== undefined),
      tags: events.some((event) => event.tags !== undefined),
    };
    const told = await tx
      .query<{ n: string; profile_id: string | null; outcome: 'stored' | 'kept' | 'declined' }>(
        appendStatement(idsMayBeStored ? 'keep-stored' : 'fail', extra),
        [
          textArray(events.map((event) => event.id)),
          textArray(events.map((event) => event.sessionId)),
          textArray(events.map((event) => event.profileId ?? null)),
          textArray(events.map((event) => JSON.stringify(event.properties))),
          textArray(events.map((event) => event.occurredAt.toISOString())),
          textArray(events.map((event) => event.type)),
          sourceId,
          now.toISOString(),
          ...(extra.context ? [textArray(events.map((event) => JSON.stringify(event.context ?? {})))] : []),
          ...(extra.tags ? [textArray(events.map((event) => textArray(event.tags ?? [])))] : []),
        ],
      )
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? new StoredEventId() : error;
      });
    const exceptions = new Map(told.map((row) => [Number(row.n) - 1, row]));
    const outcome: AppendOutcome = { stored: [], declined: [] };
    for (const [index, { id, type, sessionId, profileId }] of events.entries()) {
      const told = exceptions.get(index);
      if (told?.outcome === 'declined') outcome.declined.push(index);
      else if (told?.outcome !== 'kept')
        outcome.stored.push({ id, type, sessionId, profileId: told?.profile_id ?? profileId! });
    }
    return outcome;
  }

  async settleTouches(
    tx: SqlExecutor,
    limit: number,
    share: { index: number; of: number },
  ): Promise<{ settled: number; profileIds: string[] }> {
    // Shares split the sessions by id: a profile's sessions may fall in several, whose settles then
    // queue on its lock (taken in the same order by all, below).
    const picked = (
      await tx.query<{ session_id: string }>(
        `SELECT DISTINCT session_id FROM session_touches
          WHERE $2::int = 1 OR (hashtext(session_id) & 2147483647) % $2::int = $3::int LIMIT $1`,
        [limit, share.of, share.index],
      )
    ).map((row) => row.session_id);
    if (picked.length === 0) return { settled: 0, profileIds: [] };
    // Locked in id order, sessions then their profiles, as /track locks them: a settle and a commit
    // (or another writer of profiles) queue rather than deadlock. The profiles include the survivor
    // of a merged id a session still carries, which the settle writes too.
    await tx.query('SELECT 1 FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [picked]);
    await tx.query(
      `WITH owners AS (SELECT ARRAY(SELECT profile_id FROM sessions WHERE id = ANY($1::text[])) AS ids)
       SELECT 1 FROM profiles, owners
        WHERE profiles.id = ANY(owners.ids)
           -- ids <> '{}' lets the partial index of merged ids answer (0006)
           OR (profiles.ids <> '{}' AND profiles.ids && owners.ids)
        ORDER BY profiles.id FOR UPDATE OF profiles`,
      [picked],
    );
    const [row] = await tx.query<{ profile_ids: string[] }>(SETTLE_TOUCHES, [picked]);
    return { settled: picked.length, profileIds: row?.profile_ids ?? [] };
  }
}

/** Where each part of `WRITE_HISTORY`'s parameters starts: its events, new profiles, new sessions, touched sessions. */
const EVENT_PARAMETERS = columnsOf(EVENT_RECORD).length;
const PROFILE_PARAMETERS = columnsOf(PROFILE_VISITS_RECORD).length;
const SESSION_PARAMETERS = columnsOf(SESSION_RECORD).length;
const HISTORY_TOUCHED = EVENT_PARAMETERS + PROFILE_PARAMETERS + SESSION_PARAMETERS + 1;

/**
 * An import's writes as one statement (`writeHistory`): the events stored unless there (a batch read
 * again after a kill stores nothing twice), new profiles and sessions counting the events stored on
 * them, and a touch of each stored session the events went to, with how many were stored: no stored
 * row is rewritten, as nothing locked them. A new profile or session another transaction created since
 * fails the statement on its primary key, and the batch runs again.
 */
const WRITE_HISTORY = `WITH new_events AS (
    ${insertEventsFrom(`${unnestedRecord(EVENT_RECORD, 1)} AS r`)}
    RETURNING id, session_id, metadata ? 'system' AS system
  ), gained AS (
    SELECT session_id AS id, count(*)::int AS n FROM new_events
     WHERE session_id IS NOT NULL AND NOT system GROUP BY session_id
  ), new_profiles AS (
    INSERT INTO profiles (id, visits, last_visit_at, current_visit_at, active, created_at, updated_at)
    SELECT id, visits, last_visit_at, current_visit_at, active, created_at, updated_at
      FROM ${unnestedRecord(PROFILE_VISITS_RECORD, EVENT_PARAMETERS + 1)} AS r
  ), new_sessions AS (
    INSERT INTO sessions (id, profile_id, source_id, status, device, os, app, context, inactive, events_count,
                          visit_started_at, visit_ended_at, created_at, last_event_at, updated_at)
    SELECT r.id, profile_id, source_id, status, device, os, app, context, inactive, events_count + coalesce(g.n, 0),
           visit_started_at, visit_ended_at, created_at, last_event_at, updated_at
      FROM ${unnestedRecord(SESSION_RECORD, EVENT_PARAMETERS + PROFILE_PARAMETERS + 1)} AS r LEFT JOIN gained g ON g.id = r.id
  ), touches AS (
    INSERT INTO session_touches (session_id, events, touched_at)
    SELECT id, n, $${HISTORY_TOUCHED + 1}::timestamptz FROM gained WHERE id = ANY($${HISTORY_TOUCHED}::text[])
  )
  -- The events not stored (their ids were): rare, so the answer stays small.
  SELECT id FROM unnest($1::text[]) AS given(id) WHERE id NOT IN (SELECT id FROM new_events)`;

/**
 * An import's events appended to the sessions they name (`appendEvents`), where the outcome needs no
 * lock of the profile nor a write of the session: the session is stored, its visit not ended, its
 * profile stored by that id, and the row names no other profile (a merged id's survivor or another
 * profile would take the session over). The sessions are share-locked, in id order as /track locks
 * them (a session's rows kept in their order): a writer that ends a visit, moves or deletes a session
 * meanwhile is waited for and the conditions are checked again on what it committed (unlocked, an
 * event would land in a visit just ended, or on a person just deleted). Each is stored unless its id
 * is (a batch read again after a kill stores nothing twice) and its session gets a touch; the rest are
 * declined. The answer names only the rows whose outcome is not "stored as named", by their 1-based
 * position: declined, kept (its id was stored), or stored on the session's profile where the row named
 * another or none; sending a batch's rows back would cost both sides more than the statement saves.
 * A context and tags are sent, a text array each, only by a batch that has them (an import mapping them).
 */
const appendEvents = (onDuplicate: OnDuplicateEvent, extra: AppendedColumns) => {
  // A context and tags, where the batch has them, are the parameters after the source and the time.
  const optional = [...(extra.context ? ['context'] : []), ...(extra.tags ? ['tags'] : [])];
  const arrays = optional.map((_, at) => `, $${9 + at}::text[]`).join('');
  const columns = (prefix: string) => optional.map((name) => `, ${prefix}${name}`).join('');
  return `WITH r AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]${arrays}) WITH ORDINALITY
      AS r(id, session_id, profile_key, properties, occurred_at, type${columns('')}, n)
  ), open AS (
    SELECT r.n, r.id, r.type, r.session_id, s.profile_id, r.profile_key, r.properties, r.occurred_at${columns('r.')}
      FROM r JOIN sessions s ON s.id = r.session_id AND s.id = ANY($2::text[])
     WHERE s.status <> 'ended'
       AND EXISTS (SELECT 1 FROM profiles p WHERE p.id = s.profile_id)
       AND (r.profile_key IS NULL OR r.profile_key = s.profile_id
            OR (NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = r.profile_key)
                AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.ids <> '{}' AND p.ids @> ARRAY[r.profile_key])))
     ORDER BY s.id, r.n FOR SHARE OF s
  ), stored AS (
    ${insertEventsFrom(
      `(SELECT id, type, profile_id, session_id, $7::text AS source_id, properties::jsonb AS properties,
               '{}'::jsonb AS traits, ${extra.context ? 'context::jsonb' : "'{}'::jsonb"} AS context,
               ${extra.tags ? 'tags::text[]' : "'{}'::text[]"} AS tags, '{}'::jsonb AS metadata,
               occurred_at::timestamptz AS occurred_at, $8::timestamptz AS inserted_at FROM open) AS o`,
      onDuplicate,
    )}
    RETURNING id, session_id
  ), touches AS (
    INSERT INTO session_touches (session_id, events, touched_at)
    SELECT session_id, count(*), $8::timestamptz FROM stored GROUP BY session_id
  )
  ${
    onDuplicate === 'fail'
      ? // Every open row is stored (a stored id fails the statement): only those stored on another
        // profile than the row names are told.
        `SELECT n, profile_id, 'stored' AS outcome FROM open WHERE profile_key IS DISTINCT FROM profile_id`
      : `SELECT o.n, o.profile_id, CASE WHEN st.id IS NULL THEN 'kept' ELSE 'stored' END AS outcome
           FROM open o LEFT JOIN stored st ON st.id = o.id
          WHERE st.id IS NULL OR o.profile_key IS DISTINCT FROM o.profile_id`
  }
  UNION ALL
  SELECT n, NULL, 'declined' FROM r WHERE NOT EXISTS (SELECT 1 FROM open WHERE open.n = r.n)`;
};

/** Which of an event's optional columns an append's batch has values for. */
interface AppendedColumns {
  context: boolean;
  tags: boolean;
}

/**
 * The append statement for a batch: `fail` for a batch none of whose ids is stored, as most are,
 * without the speculative insertion of ON CONFLICT. Made once for each kind of batch.
 */
const appendStatements = new Map<string, string>();
function appendStatement(onDuplicate: OnDuplicateEvent, extra: AppendedColumns): string {
  const key = `${onDuplicate} ${extra.context} ${extra.tags}`;
  let statement = appendStatements.get(key);
  if (statement === undefined) appendStatements.set(key, (statement = appendEvents(onDuplicate, extra)));
  return statement;
}

/**
 * Touches counted onto their sessions, whose visits go on as /track's visit rules carry them on (last
 * event, active; a session `started` by an earlier request becomes `active`), and onto their profiles
 * (active; a profile merged away since the touch is its survivor, as /track resolves it), relative to
 * what they hold, then deleted: settled once, whichever process settles them.
 * A slice is the sessions `$1` with all their touches, so that a session is written once however many
 * batches touched it (the touches of a session deleted since go with them).
 */
const SETTLE_TOUCHES = `WITH taken AS (
    DELETE FROM session_touches WHERE session_id = ANY($1::text[])
    RETURNING session_id, events, touched_at
  ), per_session AS (
    SELECT session_id, sum(events)::int AS events, max(touched_at) AS at FROM taken GROUP BY session_id
  ), sessions_on AS (
    UPDATE sessions s SET events_count = s.events_count + t.events, last_event_at = greatest(s.last_event_at, t.at),
           updated_at = greatest(s.updated_at, t.at), inactive = false,
           status = CASE WHEN s.status = 'started' THEN 'active' ELSE s.status END
      FROM per_session t
     WHERE s.id = t.session_id AND s.id = ANY($1::text[])
    RETURNING s.profile_id, t.at
  ), owners AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM profiles own WHERE own.id = o.profile_id) THEN o.profile_id
                ELSE (SELECT m.id FROM profiles m WHERE m.ids <> '{}' AND m.ids @> ARRAY[o.profile_id] LIMIT 1)
           END AS profile_id, o.at
      FROM sessions_on o
  ), profiles_on AS (
    UPDATE profiles p SET active = true, updated_at = greatest(p.updated_at, t.at), version = p.version + 1
      FROM (SELECT profile_id, max(at) AS at FROM owners GROUP BY profile_id) t
     WHERE p.id = t.profile_id
    RETURNING p.id
  )
  SELECT ARRAY(SELECT id FROM profiles_on ORDER BY id) AS profile_ids`;

/**
 * A flush's profiles, sessions and events as one statement of data-modifying CTEs: one statement to
 * parse, plan and run, where each costs PGlite as much as the rows it writes. Each session is written
 * once, with the events it gains counted in (system events aside). No insert has an ON CONFLICT, whose
 * speculative insertion every row would pay: the batch stores only events the lock found not stored,
 * and a new profile or session or an event another transaction inserted since fails the statement on
 * its primary key, a race after which the batch runs again and reads it (so an event sent twice at
 * once is stored, counted and reacted to once).
 */
const WRITE_VISITS = `WITH new_events AS (
    ${insertEventsFrom(`jsonb_to_recordset($1::text::jsonb) AS r(${EVENT_RECORD})`, 'fail')}
  ), new_profiles AS (
    INSERT INTO profiles (id, visits, last_visit_at, current_visit_at, active, created_at, updated_at,
                          traits, pii, data, stats, consents, segments)
    SELECT id, visits, last_visit_at, current_visit_at, active, created_at, updated_at,
           coalesce(traits, '{}'), coalesce(pii, '{}'), coalesce(data, '{}'), coalesce(stats, '{}'),
           coalesce(consents, '{}'), coalesce(segments, '{}')
      FROM jsonb_to_recordset($2::text::jsonb) AS r(${PROFILE_RECORD})
  ), changed_profiles AS (
    UPDATE profiles p SET visits = r.visits, last_visit_at = r.last_visit_at, current_visit_at = r.current_visit_at,
           active = r.active, updated_at = r.updated_at, version = p.version + 1,
           traits = coalesce(r.traits, p.traits), pii = coalesce(r.pii, p.pii), data = coalesce(r.data, p.data),
           stats = coalesce(r.stats, p.stats), consents = coalesce(r.consents, p.consents),
           segments = coalesce(r.segments, p.segments)
      FROM jsonb_to_recordset($3::text::jsonb) AS r(${PROFILE_RECORD})
     WHERE p.id = r.id AND p.id = ANY($4::text[])
  ), new_sessions AS (
    INSERT INTO sessions (id, profile_id, source_id, status, device, os, app, context, inactive, events_count,
                          visit_started_at, visit_ended_at, created_at, last_event_at, updated_at)
    SELECT id, profile_id, source_id, status, device, os, app, context, inactive, events_count,
           visit_started_at, visit_ended_at, created_at, last_event_at, updated_at
      FROM jsonb_to_recordset($5::text::jsonb) AS r(${SESSION_RECORD})
  ), changed_sessions AS (
    UPDATE sessions s SET profile_id = r.profile_id, status = r.status, device = r.device, inactive = r.inactive,
           visit_started_at = r.visit_started_at, visit_ended_at = r.visit_ended_at,
           last_event_at = r.last_event_at, updated_at = r.updated_at, events_count = s.events_count + r.gained
      FROM jsonb_to_recordset($6::text::jsonb) AS r(${CHANGED_SESSION_RECORD})
     WHERE s.id = r.id AND s.id = ANY($7::text[])
  ), counted_only AS (
    UPDATE sessions s SET events_count = s.events_count + r.gained
      FROM unnest($8::text[], $9::int[]) AS r(id, gained)
     WHERE s.id = r.id AND s.id = ANY($8::text[])
  )
  SELECT 1 AS written`;

/** The JSON rows of a batch's writes, as the statements' recordsets take them. */
function rowsOf(now: Date, gained: ReadonlyMap<string, number>) {
  const text = jsonDates(now);
  return {
    profile: (profile: ProfileState, parts: Record<string, unknown> = {}) => ({
      id: profile.id,
      visits: profile.visits,
      last_visit_at: text(profile.lastVisitAt),
      current_visit_at: text(profile.currentVisitAt),
      active: profile.active,
      created_at: text(profile.createdAt),
      updated_at: text(now),
      ...parts,
    }),
    newSession: (session: SessionState) => ({
      id: session.id,
      profile_id: session.profileId,
      source_id: session.sourceId,
      status: session.status,
      ...session.facts,
      inactive: session.inactive,
      events_count: session.eventsCount + (gained.get(session.id) ?? 0),
      visit_started_at: text(session.visitStartedAt),
      visit_ended_at: text(session.visitEndedAt),
      created_at: text(session.createdAt),
      last_event_at: text(session.lastEventAt),
      updated_at: text(now),
    }),
    // Only what the update sets: a session's other facts are written when it is created.
    changedSession: (session: SessionState) => ({
      id: session.id,
      profile_id: session.profileId,
      status: session.status,
      device: session.facts.device,
      inactive: session.inactive,
      visit_started_at: text(session.visitStartedAt),
      visit_ended_at: text(session.visitEndedAt),
      last_event_at: text(session.lastEventAt),
      updated_at: text(now),
      gained: gained.get(session.id) ?? 0,
    }),
    event: (event: EventRecord) => ({
      id: event.id,
      type: event.type,
      profile_id: event.profileId,
      session_id: event.sessionId,
      source_id: event.sourceId,
      properties: event.properties,
      traits: event.traits,
      context: event.context,
      tags: event.tags,
      metadata: event.metadata,
      occurred_at: text(event.occurredAt),
      inserted_at: text(event.insertedAt),
    }),
  };
}

async function writeVisits(tx: SqlExecutor, writes: BatchWrites): Promise<Set<string>> {
  const { newProfiles, changedProfiles, newSessions, changedSessions, profileDocuments, storedDocuments, now } = writes;
  const { fresh, gained } = eventsToStore(writes);
  const rows = rowsOf(now, gained);
  const profileRow = (profile: ProfileState) =>
    rows.profile(profile, documentParts(profileDocuments.get(profile.id), storedDocuments.get(profile.id)));
  const written = new Set([...newSessions, ...changedSessions].map((session) => session.id));
  const countedOnly = [...gained].filter(([id]) => !written.has(id));
  await tx
    .query(WRITE_VISITS, [
      JSON.stringify(fresh.map(rows.event)),
      JSON.stringify(newProfiles.map(profileRow)),
      JSON.stringify(changedProfiles.map(profileRow)),
      changedProfiles.map((profile) => profile.id),
      JSON.stringify(newSessions.map(rows.newSession)),
      JSON.stringify(changedSessions.map(rows.changedSession)),
      changedSessions.map((session) => session.id),
      countedOnly.map(([id]) => id),
      countedOnly.map(([, count]) => count),
    ])
    .catch((error: unknown) => {
      throw isUniqueViolation(error) ? new CreationRace() : error;
    });
  return new Set(fresh.map((event) => event.id));
}

/**
 * The batch's events to store: those not stored before it, each id once. Each session gains its
 * share of them, system events aside; the write stores exactly these, or the batch runs again.
 */
function eventsToStore({ events, storedEventIds }: BatchWrites): {
  fresh: EventRecord[];
  gained: Map<string, number>;
} {
  const ids = new Set<string>();
  const fresh: EventRecord[] = [];
  const gained = new Map<string, number>();
  for (const event of events) {
    if (storedEventIds.has(event.id) || ids.has(event.id)) continue;
    ids.add(event.id);
    fresh.push(event);
    if (event.sessionId !== null && event.metadata['system'] !== true)
      gained.set(event.sessionId, (gained.get(event.sessionId) ?? 0) + 1);
  }
  return { fresh, gained };
}

/**
 * Dates as the JSON of a batch's rows carries them: JSON.stringify leaves its fast path at each Date
 * (its toJSON), and most of a batch's dates are the commit's clock, turned into text once.
 */
function jsonDates(now: Date): (date: Date | null) => string | null {
  const nowMs = now.getTime();
  const nowText = now.toISOString();
  return (date) => (date === null ? null : date.getTime() === nowMs ? nowText : date.toISOString());
}

/**
 * The parts of a changed profile document the profile write sets: those that differ from the stored
 * document (a part left out keeps its column); none for a profile without one.
 */
function documentParts(
  document: ProfileDocument | undefined,
  stored: ProfileDocument | undefined,
): Record<string, unknown> {
  if (!document) return {};
  const parts: Record<string, unknown> = {
    ...writableProfileColumns(document),
    segments: (document.segments as string[] | undefined) ?? null,
  };
  if (!stored) return parts;
  return Object.fromEntries(
    Object.entries(parts).filter(([part, value]) => !(part in stored) || !deepEquals(value, stored[part])),
  );
}

function unique(values: (string | null | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => typeof value === 'string'))];
}
