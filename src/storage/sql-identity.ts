import { identityKeys, type IdentityKey, type IdentitySettings } from '../identity/keys.js';
import type { ProfileRecord } from '../identity/merge.js';
import type { IdentificationPoint, PointInput } from '../identity/points.js';
import type {
  IdentificationPointRepository,
  IdentityStore,
  KeyClaim,
  MergeReason,
  MergeRecord,
  MergeSummary,
} from '../identity/ports.js';
import { retryingTransaction, type Database, type SqlExecutor } from './database.js';
import { iso, type Row } from './rows.js';

const PROFILE_COLUMNS = `id, ids, traits, pii, data, stats, consents, metadata, segments, active, visits,
  last_visit_at, current_visit_at, created_at, updated_at`;
const PROFILE_RECORD = `id text, ids text[], traits jsonb, pii jsonb, data jsonb, stats jsonb, consents jsonb,
  metadata jsonb, segments text[], active boolean, visits int, last_visit_at timestamptz,
  current_visit_at timestamptz, created_at timestamptz, updated_at timestamptz`;

const toProfile = (row: Row): ProfileRecord => ({
  id: row.id as string,
  ids: row.ids as string[],
  traits: row.traits as Row,
  pii: row.pii as Row,
  data: row.data as Row,
  stats: row.stats as Row,
  consents: row.consents as Row,
  metadata: row.metadata as Row,
  segments: row.segments as string[],
  active: row.active as boolean,
  visits: row.visits as number,
  lastVisitAt: iso(row.last_visit_at),
  currentVisitAt: iso(row.current_visit_at),
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

const toRow = (profile: ProfileRecord) => ({
  id: profile.id,
  ids: profile.ids,
  traits: profile.traits,
  pii: profile.pii,
  data: profile.data,
  stats: profile.stats,
  consents: profile.consents,
  metadata: profile.metadata,
  segments: profile.segments,
  active: profile.active,
  visits: profile.visits,
  last_visit_at: profile.lastVisitAt,
  current_visit_at: profile.currentVisitAt,
  created_at: profile.createdAt,
  updated_at: profile.updatedAt,
});

const SUMMARY_COLUMNS = 'id, survivor_id, merged_ids, status, reason, created_at, undone_at';

const toSummary = (row: Row): MergeSummary => ({
  id: row.id as string,
  survivorId: row.survivor_id as string,
  mergedIds: row.merged_ids as string[],
  status: row.status as MergeSummary['status'],
  reason: row.reason as MergeReason,
  createdAt: iso(row.created_at)!,
  undoneAt: iso(row.undone_at),
});

/**
 * Identity's store. Sessions and events are not re-pointed by a merge: they keep the id they were
 * stored with, which the survivor's `ids` resolves (as /track, the read API and the heartbeat do), so
 * a merge costs the same however long the merged profiles' history, and undo has nothing to move back
 * but the sessions /track re-pointed since.
 */
export class SqlIdentityStore implements IdentityStore<SqlExecutor> {
  constructor(private readonly db: Database) {}

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return retryingTransaction(this.db, work);
  }

  async lockProfiles(tx: SqlExecutor, ids: readonly string[]): Promise<ProfileRecord[]> {
    const rows = await tx.query(
      `SELECT ${PROFILE_COLUMNS} FROM profiles
        WHERE id = ANY($1::text[]) OR (ids <> '{}' AND ids && $1::text[])
        ORDER BY id FOR UPDATE`,
      [ids],
    );
    return rows.map(toProfile);
  }

  async writeDocuments(tx: SqlExecutor, profiles: readonly ProfileRecord[]): Promise<void> {
    await tx.query(
      `UPDATE profiles p SET traits = r.traits, pii = r.pii, data = r.data, updated_at = r.updated_at,
              version = p.version + 1
         FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD})
        WHERE p.id = r.id AND p.id = ANY($2::text[])`,
      [JSON.stringify(profiles.map(toRow)), profiles.map((profile) => profile.id)],
    );
  }

  async keyValues(
    tx: SqlExecutor,
    ids: readonly string[],
    paths: readonly string[],
  ): Promise<{ id: string; values: unknown[] }[]> {
    // Only the values at the paths travel, not the documents holding them.
    const values = paths.map((path, index) => `${documentColumn(path)} #> $${index + 2}::text[]`);
    return tx.query<{ id: string; values: unknown[] }>(
      `SELECT id, jsonb_build_array(${values.join(', ')}) AS values FROM profiles WHERE id = ANY($1::text[])`,
      [ids, ...paths.map((path) => path.split('.').slice(1))],
    );
  }

  /**
   * One statement when every value is claimed or already the claimant's (the common case): the insert,
   * and the values it did not get. Their holders are read by a second statement: a value it waited for
   * another transaction to claim is not in the first one's snapshot (READ COMMITTED), and a holder read
   * there may have changed while it waited (an undo handing a value back).
   */
  async claimKeys(tx: SqlExecutor, claims: readonly KeyClaim[]): Promise<(KeyClaim & { holder: string })[]> {
    if (claims.length === 0) return [];
    const taken = await tx.query<{ key: string; value: string; profileId: string }>(
      `WITH w AS (SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS w(key text, value text, "profileId" text)),
       claimed AS (
         INSERT INTO identity_keys (key, value, profile_id)
         SELECT key, value, "profileId" FROM w ORDER BY key, value, "profileId"
         ON CONFLICT (key, value) DO NOTHING
         RETURNING key, value, profile_id)
       SELECT w.key, w.value, w."profileId"
         FROM w LEFT JOIN identity_keys k USING (key, value)
        WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE (c.key, c.value, c.profile_id) = (w.key, w.value, w."profileId"))
          AND k.profile_id IS DISTINCT FROM w."profileId"`,
      [JSON.stringify(claims)],
    );
    if (taken.length === 0) return [];
    return tx.query<{ key: string; value: string; profileId: string; holder: string }>(
      `SELECT w.key, w.value, w."profileId", k.profile_id AS holder
         FROM jsonb_to_recordset($1::text::jsonb) AS w(key text, value text, "profileId" text)
         JOIN identity_keys k USING (key, value)
        WHERE k.profile_id <> w."profileId"`,
      [JSON.stringify(taken)],
    );
  }

  async writeMerge(
    tx: SqlExecutor,
    merge: { id: string; reason: MergeReason; before: ProfileRecord[]; after: ProfileRecord },
  ): Promise<void> {
    const survivor = merge.after.id;
    const mergedIds = merge.before.map((profile) => profile.id).filter((id) => id !== survivor);
    // Sessions may carry any id a merged-away profile was known by.
    const sessionIds = merge.before.filter((profile) => profile.id !== survivor).flatMap((p) => [p.id, ...p.ids]);
    await tx.query(
      `INSERT INTO profile_merges (id, survivor_id, merged_ids, status, reason, before, after, keys, memberships, sessions)
       VALUES ($1, $2, $3::text[], 'merged', $4::text::jsonb, $5::text::jsonb, $6::text::jsonb,
         (SELECT coalesce(jsonb_agg(jsonb_build_object('key', key, 'value', value, 'profile_id', profile_id)), '[]')
            FROM identity_keys WHERE profile_id = ANY($3::text[])),
         (SELECT coalesce(jsonb_agg(jsonb_build_object('segment_id', segment_id, 'profile_id', profile_id,
                   'entered_at', entered_at, 'left_at', left_at)), '[]')
            FROM segment_members WHERE profile_id = ANY($3::text[])),
         (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'profile_id', profile_id)), '[]')
            FROM sessions WHERE profile_id = ANY($7::text[])))`,
      [
        merge.id,
        survivor,
        mergedIds,
        JSON.stringify(merge.reason),
        JSON.stringify(merge.before),
        JSON.stringify(merge.after),
        sessionIds,
      ],
    );
    await tx.query('UPDATE identity_keys SET profile_id = $1 WHERE profile_id = ANY($2::text[])', [
      survivor,
      mergedIds,
    ]);
    // A segment both were in keeps the earliest entry, and counts as current if either was in it. A
    // segment the survivor is in only through the merge is an entry, in the outbox like any other.
    await tx.query(
      `WITH current AS (SELECT segment_id FROM segment_members WHERE profile_id = $1 AND left_at IS NULL),
       moved AS (
         INSERT INTO segment_members (segment_id, profile_id, entered_at, left_at)
         SELECT segment_id, $1, min(entered_at), CASE WHEN bool_or(left_at IS NULL) THEN NULL ELSE max(left_at) END
           FROM segment_members WHERE profile_id = ANY($2::text[]) GROUP BY segment_id ORDER BY segment_id
         ON CONFLICT (segment_id, profile_id) DO UPDATE
            SET entered_at = least(segment_members.entered_at, EXCLUDED.entered_at),
                left_at = CASE WHEN segment_members.left_at IS NULL OR EXCLUDED.left_at IS NULL THEN NULL
                               ELSE greatest(segment_members.left_at, EXCLUDED.left_at) END
         RETURNING segment_id, left_at
       )
       INSERT INTO segment_changes (segment_id, profile_id, change, at)
       SELECT segment_id, $1, 'entered', now() FROM moved
        WHERE left_at IS NULL AND segment_id NOT IN (SELECT segment_id FROM current)`,
      [survivor, mergedIds],
    );
    await writeProfile(tx, merge.after);
    await tx.query('DELETE FROM profiles WHERE id = ANY($1::text[])', [mergedIds]);
  }

  async recordRefusal(
    tx: SqlExecutor,
    refusal: { id: string; survivorId: string; mergedIds: string[]; reason: MergeReason },
  ): Promise<void> {
    await tx.query(
      `INSERT INTO profile_merges (id, survivor_id, merged_ids, status, reason)
       VALUES ($1, $2, $3::text[], 'refused', $4::text::jsonb)`,
      [refusal.id, refusal.survivorId, refusal.mergedIds, JSON.stringify(refusal.reason)],
    );
  }

  async lockMerge(tx: SqlExecutor, id: string): Promise<MergeRecord | undefined> {
    const [row] = await tx.query(
      `SELECT ${SUMMARY_COLUMNS}, before, after FROM profile_merges WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!row) return undefined;
    return { ...toSummary(row), before: row.before as ProfileRecord[], after: row.after as ProfileRecord | null };
  }

  async writeUndo(
    tx: SqlExecutor,
    { merge, survivor }: { merge: MergeRecord; survivor: ProfileRecord },
  ): Promise<void> {
    const restored = merge.before.filter((profile) => profile.id !== merge.survivorId);
    await tx.query(
      `INSERT INTO profiles (${PROFILE_COLUMNS})
       SELECT ${PROFILE_COLUMNS} FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD})`,
      [JSON.stringify(restored.map(toRow))],
    );
    await writeProfile(tx, survivor);
    // What the merge took from them goes back, where the survivor still has it.
    await tx.query(
      `UPDATE identity_keys k SET profile_id = r.profile_id
         FROM profile_merges m, jsonb_to_recordset(m.keys) AS r(key text, value text, profile_id text)
        WHERE m.id = $1 AND k.key = r.key AND k.value = r.value AND k.profile_id = m.survivor_id`,
      [merge.id],
    );
    await tx.query(
      `INSERT INTO segment_members (segment_id, profile_id, entered_at, left_at)
       SELECT r.segment_id, r.profile_id, r.entered_at, r.left_at
         FROM profile_merges m,
              jsonb_to_recordset(m.memberships) AS r(segment_id text, profile_id text, entered_at timestamptz, left_at timestamptz)
        WHERE m.id = $1 AND EXISTS (SELECT 1 FROM segments s WHERE s.id = r.segment_id)
       ON CONFLICT (segment_id, profile_id) DO NOTHING`,
      [merge.id],
    );
    await tx.query(
      `UPDATE sessions s SET profile_id = r.profile_id
         FROM profile_merges m, jsonb_to_recordset(m.sessions) AS r(id text, profile_id text)
        WHERE m.id = $1 AND s.id = r.id AND s.profile_id = m.survivor_id`,
      [merge.id],
    );
    await tx.query(`UPDATE profile_merges SET status = 'undone', undone_at = now() WHERE id = $1`, [merge.id]);
  }

  async handKeys(tx: SqlExecutor, from: string, to: string, keys: readonly IdentityKey[]): Promise<void> {
    await tx.query(
      `UPDATE identity_keys k SET profile_id = $2
         FROM jsonb_to_recordset($3::text::jsonb) AS w(key text, value text)
        WHERE k.key = w.key AND k.value = w.value AND k.profile_id = $1`,
      [from, to, JSON.stringify(keys)],
    );
  }

  async history(profileIds: readonly string[]): Promise<MergeSummary[]> {
    const rows = await this.db.query(
      `SELECT ${SUMMARY_COLUMNS} FROM profile_merges
        WHERE survivor_id = ANY($1::text[]) OR merged_ids && $1::text[]
        ORDER BY created_at DESC, id DESC`,
      [profileIds],
    );
    return rows.map(toSummary);
  }

  points(tx: SqlExecutor): Promise<IdentificationPoint[]> {
    return listPoints(tx);
  }

  async holder({ key, value }: IdentityKey): Promise<string | undefined> {
    const [row] = await this.db.query<{ profile_id: string }>(
      'SELECT profile_id FROM identity_keys WHERE key = $1 AND value = $2',
      [key, value],
    );
    return row?.profile_id;
  }

  async events(tx: SqlExecutor, ids: readonly string[]) {
    const rows = await tx.query(
      'SELECT id, type, source_id, profile_id, properties, traits, context FROM events WHERE id = ANY($1::text[])',
      [ids],
    );
    return rows.map((row) => ({
      id: row.id as string,
      type: row.type as string,
      sourceId: row.source_id as string,
      profileId: row.profile_id as string | null,
      properties: row.properties as Row,
      traits: row.traits as Row,
      context: row.context as Row,
    }));
  }
}

/**
 * Gives each profile the values at its identity key paths that no profile holds yet; a value another
 * profile holds stays with it: this claims, it never merges. For profiles stored as they were, not
 * identified (a Tracardi export, profiles stored before identity keys existed).
 */
export async function claimUnheldKeys(
  tx: SqlExecutor,
  settings: IdentitySettings,
  profiles: readonly { id: string; traits: unknown; pii: unknown; data: unknown }[],
): Promise<void> {
  const keys = profiles.flatMap(({ id, traits, pii, data }) =>
    identityKeys({ traits, pii, data }, settings).map((key) => ({ ...key, profile_id: id })),
  );
  if (keys.length > 0)
    await tx.query(
      `INSERT INTO identity_keys (key, value, profile_id)
       SELECT key, value, profile_id FROM jsonb_to_recordset($1::text::jsonb) AS k(key text, value text, profile_id text)
        -- a profile merged away or deleted since it was read claims nothing (the key would name no profile)
        WHERE EXISTS (SELECT 1 FROM profiles WHERE id = k.profile_id)
        ORDER BY key, value
       ON CONFLICT (key, value) DO NOTHING`,
      [JSON.stringify(keys)],
    );
}

const DOCUMENT_COLUMNS = new Set(['traits', 'pii', 'data']);

/** The column a key path reads (IDENTITY_KEYS are under traits, pii or data). */
function documentColumn(path: string): string {
  const column = path.split('.')[0]!;
  if (!DOCUMENT_COLUMNS.has(column)) throw new Error(`identity key ${path} is not under traits, pii or data`);
  return column;
}

async function writeProfile(tx: SqlExecutor, profile: ProfileRecord): Promise<void> {
  await tx.query(
    `UPDATE profiles p SET ids = r.ids, traits = r.traits, pii = r.pii, data = r.data, stats = r.stats,
            consents = r.consents, metadata = r.metadata, segments = r.segments, active = r.active, visits = r.visits,
            last_visit_at = r.last_visit_at, current_visit_at = r.current_visit_at, created_at = r.created_at,
            updated_at = r.updated_at, version = p.version + 1
       FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD})
      WHERE p.id = r.id AND p.id = $2`,
    [JSON.stringify([toRow(profile)]), profile.id],
  );
}

const toPoint = (row: Row): IdentificationPoint => ({
  id: row.id as string,
  name: row.name as string,
  eventType: row.event_type as string,
  sourceId: row.source_id as string | null,
  fields: row.fields as IdentificationPoint['fields'],
  enabled: row.enabled as boolean,
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

const POINT_COLUMNS = 'id, name, event_type, source_id, fields, enabled, created_at, updated_at';

async function listPoints(executor: SqlExecutor): Promise<IdentificationPoint[]> {
  return (await executor.query(`SELECT ${POINT_COLUMNS} FROM identification_points ORDER BY created_at, id`)).map(
    toPoint,
  );
}

export class SqlIdentificationPoints implements IdentificationPointRepository {
  constructor(private readonly db: Database) {}

  list(): Promise<IdentificationPoint[]> {
    return listPoints(this.db);
  }

  async get(id: string): Promise<IdentificationPoint | undefined> {
    const [row] = await this.db.query(`SELECT ${POINT_COLUMNS} FROM identification_points WHERE id = $1`, [id]);
    return row && toPoint(row);
  }

  async create(id: string, point: PointInput): Promise<IdentificationPoint> {
    const [row] = await this.db.query(
      `INSERT INTO identification_points (id, name, event_type, source_id, fields, enabled)
       VALUES ($1, $2, $3, $4, $5::text::jsonb, $6) RETURNING ${POINT_COLUMNS}`,
      [id, point.name, point.eventType, point.sourceId, JSON.stringify(point.fields), point.enabled],
    );
    return toPoint(row!);
  }

  async update(id: string, point: PointInput): Promise<IdentificationPoint | undefined> {
    const [row] = await this.db.query(
      `UPDATE identification_points SET name = $2, event_type = $3, source_id = $4, fields = $5::text::jsonb,
              enabled = $6, updated_at = now()
        WHERE id = $1 RETURNING ${POINT_COLUMNS}`,
      [id, point.name, point.eventType, point.sourceId, JSON.stringify(point.fields), point.enabled],
    );
    return row && toPoint(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM identification_points WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
