/**
 * Imported profiles, sessions and events (Tracardi exports), written set-based as they are: one statement
 * per batch, each id written once and a stored one kept as it is, so importing the same dump again changes
 * nothing, not even what /track, a merge or a flow did to it since. The commit steps run in the same
 * transaction, as for every writer.
 */
import type { IdentitySettings } from '../identity/keys.js';
import { isRetryable, retryingTransaction, type Database, type SqlExecutor } from './database.js';
import { deepMerge, holdsObject } from '../importing/deep-merge.js';
import { RunNotHeld, type RecordWriter, type RunHold } from '../importing/ports.js';
import type { ProfileUpsert } from '../importing/rows.js';
import type { ImportedEvent, ImportedProfile, ImportedSession } from '../importing/tracardi.js';
import { insertEventsFrom } from './event-insert.js';
import { claimUnheldKeys } from './sql-identity.js';
import { laneOf } from '../tracking/commit-lanes.js';
import { runCommitSteps, type CommitStep } from '../tracking/commit-steps.js';

/**
 * Whether the run is still held by the claim, share-locked until the transaction commits: a worker
 * taking the run over (a new claim) waits for this batch's lanes, and a lane of a worker that lost the
 * run stores nothing.
 */
async function stillHeld(tx: SqlExecutor, { runId, claim }: RunHold): Promise<void> {
  const held = await tx.query(`SELECT 1 FROM import_runs WHERE id = $1 AND claim = $2 FOR SHARE`, [runId, claim]);
  if (held.length === 0) throw new RunNotHeld(runId);
}

/** An upsert may touch a row once per statement: a dump holding one id twice keeps its later document. */
const lastOfEachId = <T extends { id: string }>(rows: readonly T[]): T[] => [
  ...new Map(rows.map((row) => [row.id, row])).values(),
];

/**
 * `owner`, the profile the id `id` names as /track resolves it: the profile with that id, else the one
 * it was merged into (none when neither is stored).
 */
const ownerOf = (id: string) => `LEFT JOIN LATERAL (SELECT id FROM profiles WHERE id = ${id}
                                 UNION ALL
                                 -- ids <> '{}' lets the partial index of merged ids answer (0006)
                                 SELECT id FROM profiles WHERE ids <> '{}' AND ids @> ARRAY[${id}]
                                 LIMIT 1) owner ON true`;

/** What a batch sets on one profile: its rows laid over each other, and the identity keys they claim for it. */
interface ProfilePart {
  rows: { id: string; traits: Record<string, unknown>; pii: Record<string, unknown> }[];
  claims: { key: string; value: string; profile_id: string }[];
  /** The batch's rows laid here, as read: laid again should the lane be stored again. */
  sources: ProfileUpsert[];
}

/** How many times a lane failing on a deadlock is laid and stored again. */
const MAX_LANE_ROUNDS = 8;

/**
 * The profile each row of a batch sets, where it is not the row's own id: the profile holding the
 * row's identity key, else the profile its id was merged into. A probe of the partial index of merged
 * ids for each id: one probe for all of them costs more, as the index checks each entry it finds
 * against every id asked for.
 */
const RESOLVE_PROFILES = `
  SELECT p.id, coalesce(k.profile_id, m.id) AS target
    FROM unnest($1::text[], $2::text[], $3::text[]) AS p(id, key, value)
    LEFT JOIN identity_keys k ON k.key = p.key AND k.value = p.value
    -- ids <> '{}' lets the partial index of merged ids answer (0006)
    LEFT JOIN LATERAL (SELECT id FROM profiles WHERE ids <> '{}' AND ids @> ARRAY[p.id] AND id <> p.id LIMIT 1) m
           ON true
   WHERE coalesce(k.profile_id, m.id) <> p.id`;

export class SqlImportRecords implements RecordWriter {
  /**
   * `identity`: the keys Tracardi profiles claim; `lanes`: the transactions a batch of profiles is
   * stored in side by side, as /track's commit lanes.
   */
  constructor(
    private readonly db: Database,
    private readonly steps: readonly CommitStep<SqlExecutor>[],
    private readonly identity: IdentitySettings,
    private readonly lanes = 1,
  ) {}

  /** Merges identification made in this writer's lanes: a batch looked up before one looks up again. */
  private merges = 0;

  /**
   * Tracardi profiles as they were, merged ids and all: they claim the identity keys no profile holds
   * (so that /track and imports by key find them) and merge with nobody, the export being Tracardi's
   * record of who is whom. A profile stored already, or merged into another since (its id among that
   * one's ids), is kept: written again, it would lose its visits and traits since, and come back from
   * a merge. Returns how many were new.
   */
  async writeProfiles(profiles: readonly ImportedProfile[]): Promise<number> {
    const written = lastOfEachId(profiles);
    return retryingTransaction(this.db, async (tx) => {
      const rows = await tx.query<{ id: string }>(
        `INSERT INTO profiles (id, ids, traits, pii, data, stats, consents, segments, metadata, active, visits,
                               last_visit_at, current_visit_at, created_at, updated_at)
         SELECT p.id, p.ids, p.traits, p.pii, p.data, p.stats, p.consents, p.segments, p.metadata, p.active, p.visits,
                p."lastVisitAt", p."currentVisitAt", p."createdAt", p."updatedAt"
           FROM jsonb_to_recordset($1::text::jsonb) AS p(id text, ids text[], traits jsonb, pii jsonb, data jsonb,
                stats jsonb, consents jsonb, segments text[], metadata jsonb, active boolean, visits integer,
                "lastVisitAt" timestamptz, "currentVisitAt" timestamptz, "createdAt" timestamptz, "updatedAt" timestamptz)
          -- ids <> '{}' lets the partial index of merged ids answer (0006)
          WHERE NOT EXISTS (SELECT 1 FROM profiles m WHERE m.ids <> '{}' AND m.ids @> ARRAY[p.id])
         ON CONFLICT (id) DO NOTHING
         RETURNING id`,
        [JSON.stringify(written)],
      );
      await claimUnheldKeys(tx, this.identity, written);
      await runCommitSteps(this.steps, tx, {
        writer: 'import',
        events: [],
        profiles: rows.map(({ id }) => ({ id, eventTypes: [] })),
      });
      return rows.length;
    });
  }

  async writeEvents(events: readonly ImportedEvent[], sourceId: string, runFlows: boolean): Promise<number> {
    return retryingTransaction(this.db, async (tx) => {
      // Their sessions are written below: locked first, in id order, as /track locks them.
      const sessionIds = [...new Set(events.flatMap(({ sessionId }) => (sessionId === null ? [] : [sessionId])))];
      await lockSessionCounts(tx, sessionIds);
      if (sessionIds.length > 0)
        await tx.query('SELECT 1 FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [sessionIds]);
      // An event of a merged profile is stored under the profile it was merged into, as /track stores it.
      // A stored session counts the events newly stored on it (an id already stored is kept, not counted
      // again) and lasts until the last of them; one stored later counts them when it is (writeSessions).
      const stored = await tx.query<{
        id: string;
        type: string;
        profile_id: string | null;
        session_id: string | null;
        occurred_at: Date;
      }>(
        `WITH incoming AS (
           SELECT e.id, e.type, coalesce(owner.id, e."profileId") AS profile_id, e."sessionId" AS session_id,
                  $2::text AS source_id, e.properties, e.traits, e.context, e.tags,
                  jsonb_build_object('imported', true) AS metadata, e."occurredAt" AS occurred_at,
                  e."insertedAt" AS inserted_at
             FROM jsonb_to_recordset($1::text::jsonb) AS e(id text, type text, "profileId" text, "sessionId" text,
                  properties jsonb, traits jsonb, context jsonb, tags text[], "occurredAt" timestamptz,
                  "insertedAt" timestamptz)
             ${ownerOf('e."profileId"')}),
         written AS (${insertEventsFrom('incoming')}
                     RETURNING id, type, profile_id, session_id, occurred_at, inserted_at),
         gained AS (SELECT session_id, count(*)::int AS n, max(inserted_at) AS last FROM written
                     WHERE session_id IS NOT NULL GROUP BY session_id),
         counted AS (
           UPDATE sessions s SET events_count = s.events_count + g.n, last_event_at = greatest(s.last_event_at, g.last),
                  -- an ended visit ends no earlier than its last event
                  visit_ended_at = CASE WHEN s.visit_ended_at IS NOT NULL THEN greatest(s.visit_ended_at, g.last) END,
                  updated_at = now()
             FROM gained g
            WHERE s.id = g.session_id)
         SELECT id, type, profile_id, session_id, occurred_at FROM written`,
        [JSON.stringify(events), sourceId],
      );
      const types = new Map<string, Set<string>>();
      for (const event of stored)
        if (event.profile_id !== null)
          (types.get(event.profile_id) ?? types.set(event.profile_id, new Set()).get(event.profile_id)!).add(
            event.type,
          );
      await runCommitSteps(this.steps, tx, {
        writer: 'import',
        events: stored.map((event) => ({
          id: event.id,
          type: event.type,
          profileId: event.profile_id,
          sessionId: event.session_id,
          sourceId,
          occurredAt: event.occurred_at,
          ...(runFlows ? {} : { runFlows: false as const }),
        })),
        profiles: [...types].map(([id, eventTypes]) => ({ id, eventTypes: [...eventTypes] })),
      });
      return stored.length;
    });
  }

  /**
   * The rows of one profile are laid over each other in row order, whatever id or key names it, then
   * stored in a transaction per lane, side by side: a profile's rows are all in its lane, so no two
   * transactions write one profile, and each keeps its rows' order. Whom the rows set is looked up while
   * the batch before is stored; should identification merge profiles meanwhile (that batch, or a lane of
   * this one), a merged-away target would be created again: the rows are looked up again instead. A lane
   * that fails on a deadlock (identification may merge a profile another lane holds) is laid again
   * from its rows, looked up again, once the others have committed.
   */
  upsertProfiles(profiles: readonly ProfileUpsert[], hold?: RunHold): () => Promise<number> {
    const mergesBefore = this.merges;
    const resolving = this.resolveProfiles(profiles);
    // Its failure is met where it is awaited, when the batch is stored.
    resolving.catch(() => undefined);
    return async () => {
      let targets = await resolving;
      if (this.merges !== mergesBefore) targets = await this.resolveProfiles(profiles);
      let pending = profiles;
      let stored = 0;
      for (let round = 1; ; round++) {
        const lanes = this.lay(pending, targets).filter((lane) => lane.rows.length > 0);
        const outcomes = await Promise.allSettled(
          lanes.map((lane) =>
            this.db.transaction(async (tx) => {
              if (hold) await stillHeld(tx, hold);
              await this.storeLane(tx, lane);
            }),
          ),
        );
        const again: ProfileUpsert[] = [];
        for (const [at, outcome] of outcomes.entries()) {
          if (outcome.status === 'fulfilled') stored += lanes[at]!.rows.length;
          else if (isRetryable(outcome.reason) && round < MAX_LANE_ROUNDS) again.push(...lanes[at]!.sources);
          else throw outcome.reason;
        }
        if (again.length === 0) return stored;
        pending = again;
        targets = await this.resolveProfiles(pending);
      }
    };
  }

  /** The rows laid over each other by the profile they set, each profile in its lane. */
  private lay(profiles: readonly ProfileUpsert[], targets: ReadonlyMap<string, string>): ProfilePart[] {
    const lanes = Array.from({ length: this.lanes }, (): ProfilePart => ({ rows: [], claims: [], sources: [] }));
    const laid = new Map<string, ProfilePart['rows'][number]>();
    for (const source of profiles) {
      const { id, key, traits, pii } = source;
      const target = targets.get(id) ?? id;
      const lane = lanes[laneOf(target, this.lanes)]!;
      lane.sources.push(source);
      const earlier = laid.get(target);
      if (earlier) {
        earlier.traits = deepMerge(earlier.traits, traits);
        earlier.pii = deepMerge(earlier.pii, pii);
      } else {
        const row = { id: target, traits, pii };
        laid.set(target, row);
        lane.rows.push(row);
      }
      // A key no profile held belongs from now on to the profile created for it.
      if (key) lane.claims.push({ ...key, profile_id: id });
    }
    return lanes;
  }

  /** The profile each row id stands for, where it is not the id itself. */
  private async resolveProfiles(profiles: readonly ProfileUpsert[]): Promise<Map<string, string>> {
    const keys = new Map<string, ProfileUpsert['key']>();
    for (const { id, key } of profiles) if (!keys.has(id)) keys.set(id, key);
    // Rows without keys send no keys: unnest pads the shorter arrays with nulls.
    const keyed = profiles.some(({ key }) => key !== undefined);
    const resolved = await this.db.query<{ id: string; target: string }>(RESOLVE_PROFILES, [
      [...keys.keys()],
      keyed ? [...keys.values()].map((key) => key?.key ?? null) : [],
      keyed ? [...keys.values()].map((key) => key?.value ?? null) : [],
    ]);
    return new Map(resolved.map(({ id, target }) => [id, target]));
  }

  private async storeLane(tx: SqlExecutor, { rows, claims }: ProfilePart): Promise<void> {
    // Flat traits and PII (most imports) need no more than `||`, without a function call per row.
    const deep = rows.some((row) => holdsObject(row.traits) || holdsObject(row.pii));
    const layOver = (column: 'traits' | 'pii') =>
      deep
        ? `${column} = jsonb_merge_deep(profiles.${column}, excluded.${column})`
        : `${column} = profiles.${column} || excluded.${column}`;
    // In id order, the order every writer locks profiles in.
    await tx.query(
      `INSERT INTO profiles (id, traits, pii)
       SELECT id, traits, pii FROM jsonb_to_recordset($1::text::jsonb) AS p(id text, traits jsonb, pii jsonb) ORDER BY id
       ON CONFLICT (id) DO UPDATE SET ${layOver('traits')}, ${layOver('pii')},
              updated_at = now(), version = profiles.version + 1`,
      [JSON.stringify(rows)],
    );
    if (claims.length > 0)
      await tx.query(
        `INSERT INTO identity_keys (key, value, profile_id)
         SELECT key, value, profile_id FROM jsonb_to_recordset($1::text::jsonb) AS k(key text, value text, profile_id text)
          WHERE EXISTS (SELECT 1 FROM profiles WHERE id = k.profile_id)
          ORDER BY key, value
         ON CONFLICT (key, value) DO NOTHING`,
        [JSON.stringify(claims)],
      );
    // The profiles' identity keys are claimed, and their holders merged, as for traits and PII set through
    // /track: those whose rows set a key path (or the top-level field holding it, which they may replace).
    const mergedInto = await runCommitSteps(this.steps, tx, {
      writer: 'import',
      events: [],
      profiles: rows.map(({ id }) => ({ id, eventTypes: [] })),
      documents: rows.filter((row) => this.setsKeyPath(row)).map(({ id }) => id),
    });
    if (mergedInto.size > 0) this.merges += 1;
  }

  private setsKeyPath(row: ProfilePart['rows'][number]): boolean {
    return this.identity.keys.some((path) => {
      const [column, field] = path.split('.');
      return (column === 'traits' || column === 'pii') && field !== undefined && Object.hasOwn(row[column], field);
    });
  }

  async writeSessions(sessions: readonly ImportedSession[]): Promise<number> {
    // History: a session is over, so it is stored inactive and with its visit ended, never reopened by the heartbeat.
    // It belongs to the profile its profile id is, or was merged into, as its events do. A new one counts the
    // events an event import stored on it before it and lasts until the last of them; one stored already is kept
    // as it is: its count (its events counted themselves onto it), and a visit /track reopened on it since.
    const written = lastOfEachId(sessions);
    return retryingTransaction(this.db, async (tx) => {
      await lockSessionCounts(
        tx,
        written.map(({ id }) => id),
      );
      const [{ n }] = (await tx.query<{ n: number }>(
        `WITH written AS (
         INSERT INTO sessions (id, profile_id, source_id, status, device, os, app, context, metadata, inactive,
                               events_count, visit_started_at, visit_ended_at, created_at, last_event_at, updated_at)
         SELECT s.id, coalesce(owner.id, s."profileId"), s."sourceId", 'ended', s.device, s.os, s.app, s.context,
                s.metadata, true, e.n, s."createdAt", greatest(s."lastEventAt", e.last), s."createdAt",
                greatest(s."lastEventAt", e.last), now()
           FROM jsonb_to_recordset($1::text::jsonb) AS s(id text, "profileId" text, "sourceId" text, device jsonb,
                os jsonb, app jsonb, context jsonb, metadata jsonb, "createdAt" timestamptz, "lastEventAt" timestamptz)
           ${ownerOf('s."profileId"')}
           -- as /track counts them: system events aside
           CROSS JOIN LATERAL (SELECT count(*)::int AS n, max(inserted_at) AS last FROM events
                                WHERE session_id = s.id AND NOT metadata ? 'system') e
         ON CONFLICT (id) DO NOTHING
         RETURNING 1)
       SELECT count(*)::int AS n FROM written`,
        [JSON.stringify(written)],
      )) as [{ n: number }];
      return n;
    });
  }
}

/**
 * Serialises, session by session, the import of Tracardi sessions and of their events: an events batch
 * counts what it stores onto the sessions stored when it writes, a sessions batch counts the events
 * stored when it writes, and side by side each could miss the other's rows, not yet committed. Advisory
 * locks (a session the events name may not be stored yet), taken in one order, held until commit.
 */
export async function lockSessionCounts(tx: SqlExecutor, sessionIds: readonly string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  await tx.query(
    `SELECT pg_advisory_xact_lock(k)
       FROM (SELECT DISTINCT hashtext('imported-session:' || id) AS k FROM unnest($1::text[]) AS id ORDER BY k) locks`,
    [sessionIds],
  );
}
