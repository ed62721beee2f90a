import { isStatementFault, isUniqueViolation, type Database, type SqlExecutor } from './database.js';
import { lockSurvivors } from './profile-locks.js';
import { compileToSql } from '../condition/index.js';
import type {
  MembershipChanges,
  MembershipStore,
  PendingRecheck,
  ProfileSelection,
  SegmentInput,
  SegmentRepository,
} from '../segmentation/ports.js';
import { PROFILES_ONLY, SegmentRunError, wantsRecheck, type Segment } from '../segmentation/segment.js';
import { upToMillisecond } from './time-bounds.js';
import { iso, type Row } from './rows.js';

const toSegment = (row: Row): Segment => ({
  id: row.id as string,
  name: row.name as string,
  machineName: row.machine_name as string,
  description: row.description as string,
  condition: row.condition as string,
  enabled: row.enabled as boolean,
  eventTypes: row.event_types as string[],
  lastRunAt: iso(row.last_run_at),
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
  failure: row.failed_at ? { message: row.failure as string, at: iso(row.failed_at)! } : null,
  resegmentPending: (row.enabled as boolean) && (row.resegment_requested as number) > (row.resegment_queued as number),
  resegmentRequest: row.resegment_requested as number,
});

/** A segment's columns as create and update take them, $1 to $7. */
const segmentParams = (id: string, segment: Omit<SegmentInput, 'id'>) => [
  id,
  segment.name,
  segment.machineName,
  segment.description,
  segment.condition,
  segment.enabled,
  segment.eventTypes,
];

export class SqlSegments implements SegmentRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<Segment | undefined> {
    const [row] = await this.db.query('SELECT * FROM segments WHERE id = $1', [id]);
    return row && toSegment(row);
  }

  async list(): Promise<Segment[]> {
    return (await this.db.query('SELECT * FROM segments ORDER BY created_at, id')).map(toSegment);
  }

  async listEnabled(): Promise<Segment[]> {
    return (await this.db.query('SELECT * FROM segments WHERE enabled ORDER BY id')).map(toSegment);
  }

  /** Nothing when the id or the machine name is taken. */
  async create(segment: SegmentInput): Promise<Segment | undefined> {
    try {
      const [row] = await this.db.query(
        `INSERT INTO segments (id, name, machine_name, description, condition, enabled, event_types, resegment_requested)
         VALUES ($1, $2, $3, $4, $5, $6, $7::text[], CASE WHEN $6 THEN 1 ELSE 0 END)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        segmentParams(segment.id, segment),
      );
      return row && toSegment(row);
    } catch (error) {
      // The machine name's constraint is deferrable (for deploys), so no ON CONFLICT can name it.
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
  }

  async update(id: string, segment: Omit<SegmentInput, 'id'>): Promise<Segment | undefined> {
    const [row] = await this.db.query(
      `UPDATE segments SET name = $2, machine_name = $3, description = $4, condition = $5, enabled = $6,
              event_types = $7::text[], updated_at = now(), failed_at = NULL, failure = NULL,
              resegment_requested = resegment_requested + CASE WHEN $6 THEN 1 ELSE 0 END
        WHERE id = $1 RETURNING *`,
      segmentParams(id, segment),
    );
    return row && toSegment(row);
  }

  /** Members leave with the segment: their profiles drop its name, and the exits are recorded. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [segment] = await tx.query<{ machine_name: string }>(
        'SELECT machine_name FROM segments WHERE id = $1 FOR UPDATE',
        [id],
      );
      if (!segment) return false;
      await tx.query(
        `WITH gone AS (SELECT profile_id FROM segment_members WHERE segment_id = $1 AND left_at IS NULL),
              changes AS (INSERT INTO segment_changes (segment_id, profile_id, change, at)
                          SELECT $1, profile_id, 'left', now() FROM gone)
         UPDATE profiles SET segments = array_remove(segments, $2) WHERE id IN (SELECT profile_id FROM gone)`,
        [id, segment.machine_name],
      );
      await tx.query('DELETE FROM segments WHERE id = $1', [id]);
      return true;
    });
  }

  async markRun(id: string, at: Date): Promise<void> {
    await this.db.query('UPDATE segments SET last_run_at = greatest(last_run_at, $2::timestamptz) WHERE id = $1', [
      id,
      at,
    ]);
  }

  markFailed(id: string, condition: string, message: string, at: Date): Promise<void> {
    return markFailed(this.db, id, condition, message, at);
  }

  async clearFailure(id: string): Promise<void> {
    await this.db.query(
      'UPDATE segments SET failed_at = NULL, failure = NULL WHERE id = $1 AND failed_at IS NOT NULL',
      [id],
    );
  }

  async markQueued(id: string, request: number): Promise<void> {
    await this.db.query('UPDATE segments SET resegment_queued = greatest(resegment_queued, $2) WHERE id = $1', [
      id,
      request,
    ]);
  }

  async listAwaitingQueue(graceMs: number): Promise<Segment[]> {
    const rows = await this.db.query(
      `SELECT * FROM segments
        WHERE enabled AND resegment_requested > resegment_queued AND updated_at <= now() - $1 * interval '1 millisecond'
        ORDER BY id`,
      [graceMs],
    );
    return rows.map(toSegment);
  }

  async memberCount(id: string): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND left_at IS NULL',
      [id],
    );
    return row?.n ?? 0;
  }

  async members(id: string, limit: number, cursor?: string) {
    const rows = await this.db.query<{ profile_id: string; entered_at: Date }>(
      `SELECT profile_id, entered_at FROM segment_members
        WHERE segment_id = $1 AND left_at IS NULL AND ($2::text IS NULL OR profile_id > $2)
        ORDER BY profile_id LIMIT $3`,
      [id, cursor ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    return {
      items: page.map((row) => ({ profileId: row.profile_id, enteredAt: row.entered_at.toISOString() })),
      next: rows.length > limit ? page[page.length - 1]!.profile_id : null,
    };
  }
}

/**
 * The WHERE clauses of a selection, their parameters numbered after the `before` first ones (a
 * segment's statement has three: segment, now, machine name): one over profiles p, and one over the
 * segment's members m that can only be those profiles,
 * so that exits are looked for among a batch's members rather than all of them. Only the bounds
 * present are written: a `$n IS NULL OR …` form would keep PostgreSQL's generic plan from using the
 * primary key for the range.
 */
export function selectionFilter(
  selection: ProfileSelection,
  before = 3,
): { profiles: string; members: string; params: unknown[] } {
  if (selection.kind === 'ids') {
    const placeholder = `$${before + 1}::text[]`;
    return {
      profiles: `p.id = ANY(${placeholder})`,
      members: `m.profile_id = ANY(${placeholder})`,
      params: [selection.ids],
    };
  }
  const params: unknown[] = [];
  const profiles: string[] = [];
  const members: string[] = [];
  const bound = (value: string | null | undefined, profileClause: string, memberClause?: string) => {
    if (value === null || value === undefined) return;
    params.push(value);
    const placeholder = `$${params.length + before}`;
    profiles.push(profileClause.replace('?', placeholder));
    if (memberClause) members.push(memberClause.replace('?', placeholder));
  };
  bound(selection.fromId, 'p.id >= ?::text', 'm.profile_id >= ?::text');
  bound(selection.toId, 'p.id < ?::text', 'm.profile_id < ?::text');
  bound(selection.updatedSince, 'p.updated_at >= ?::timestamptz');
  bound(selection.updatedBefore, upToMillisecond('p.updated_at', '?'));
  const all = (clauses: string[]) => (clauses.length > 0 ? clauses.join(' AND ') : 'true');
  return { profiles: all(profiles), members: all(members), params };
}

/** Sampled profiles per range: a range then holds its target size give or take a few per cent. */
const SAMPLED_PER_RANGE = 500;

export class SqlMembership implements MembershipStore {
  constructor(private readonly db: Database) {}

  apply(segment: Segment, selection: ProfileSelection, now: Date): Promise<MembershipChanges> {
    return this.db.transaction((tx) => applyMembership(tx, segment, selection, now));
  }

  /**
   * Cuts at quantiles of a sample of pages: numbering every id reads every profile (an index scan
   * that visits the heap until the table has been vacuumed). Ranges need not be exact:
   * every profile falls in one of them whatever the bounds. Batches of up to SAMPLED_PER_RANGE
   * profiles are cut exactly, over the whole table.
   */
  async rangeBounds(size: number): Promise<string[]> {
    const percent = Math.min(100, (100 * SAMPLED_PER_RANGE) / size);
    const step = Math.max(1, Math.round((size * percent) / 100));
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM profiles TABLESAMPLE SYSTEM ($1::float4)) sampled
        WHERE n % $2 = 1 AND n > 1 ORDER BY id`,
      [percent, step],
    );
    return rows.map((row) => row.id);
  }

  async recheckPending(limit: number, segments: Segment[], now: Date): Promise<PendingRecheck> {
    return this.db.transaction(async (tx) => {
      // Profiles first, then their pending rows: /track takes them in that order too, so the two
      // queue behind each other instead of deadlocking. A row another worker took is gone by the DELETE.
      const candidates = await tx.query<{ profile_id: string }>(
        'SELECT profile_id FROM segmentation_pending ORDER BY queued_at LIMIT $1',
        [limit],
      );
      if (candidates.length === 0) return { profiles: 0, entered: 0, left: 0, failures: [] };
      const ids = candidates.map((row) => row.profile_id);
      const mergedInto = await lockSurvivors(tx, ids);
      const pending = await tx.query<{ profile_id: string; event_types: string[] }>(
        // Pending rows locked in profile order, as writers queue them: a heartbeat page queues its
        // profiles without locking them first.
        `DELETE FROM segmentation_pending
          WHERE profile_id IN (SELECT profile_id FROM segmentation_pending WHERE profile_id = ANY($1::text[]) ORDER BY profile_id FOR UPDATE)
         RETURNING profile_id, event_types`,
        [ids],
      );
      const result: PendingRecheck = { profiles: pending.length, entered: 0, left: 0, failures: [] };
      if (pending.length === 0) return result;
      for (const segment of segments) {
        // A profile merged away while this waited is re-decided as its survivor, which holds its data now.
        const ids = [
          ...new Set(
            pending
              .filter((row) => wantsRecheck(segment, row.event_types))
              .map((row) => mergedInto.get(row.profile_id) ?? row.profile_id),
          ),
        ];
        if (ids.length === 0) continue;
        // A segment that cannot run is undone alone: the batch's other segments and its removal
        // from the pending list still commit.
        try {
          const changes = await tx.savepoint((scope) => applyMembership(scope, segment, { kind: 'ids', ids }, now));
          result.entered += changes.entered;
          result.left += changes.left;
        } catch (error) {
          if (!(error instanceof SegmentRunError)) throw error;
          await markFailed(tx, segment.id, segment.condition, error.message, now);
          result.failures.push(error);
        }
      }
      return result;
    });
  }
}

async function markFailed(db: SqlExecutor, id: string, condition: string, message: string, at: Date): Promise<void> {
  await db.query('UPDATE segments SET failed_at = $4, failure = $3 WHERE id = $1 AND condition = $2', [
    id,
    condition,
    message,
    at,
  ]);
}

/**
 * Runs a segment's membership statement. What fails because of the segment itself (a condition that
 * no longer compiles, a statement its condition makes fail on the data) is a SegmentRunError; an
 * outage, a deadlock or a lock timeout is not the segment's fault and is thrown as it is.
 */
async function applyMembership(
  tx: SqlExecutor,
  segment: Segment,
  selection: ProfileSelection,
  now: Date,
): Promise<MembershipChanges> {
  let statement: { sql: string; params: unknown[] };
  try {
    statement = membershipStatement(segment, selection, now);
  } catch (error) {
    throw new SegmentRunError(segment.id, `the condition does not compile: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const [row] = await tx.query<{ entered: number; left: number }>(statement.sql, statement.params);
    return { entered: row?.entered ?? 0, left: row?.left ?? 0 };
  } catch (error) {
    if (!isStatementFault(error)) throw error;
    throw new SegmentRunError(segment.id, `the condition fails to run: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * One statement decides the batch: the compiled condition marks each selected profile, matching
 * non-members enter (or re-enter), non-matching members leave, and the outbox and profiles.segments
 * follow in the same statement.
 */
function membershipStatement(
  segment: Segment,
  selection: ProfileSelection,
  now: Date,
): { sql: string; params: unknown[] } {
  const filter = selectionFilter(selection);
  const fixed = [segment.id, now, segment.machineName, ...filter.params];
  const condition = compileToSql(segment.condition, {
    paramOffset: fixed.length,
    mapping: PROFILES_ONLY,
    now: () => now,
  });
  return {
    sql: `WITH candidates AS (
       SELECT p.id, (${condition.sql}) AS matches FROM profiles p WHERE ${filter.profiles}
     ),
     entered AS (
       INSERT INTO segment_members AS m (segment_id, profile_id, entered_at, left_at)
       SELECT $1::text, id, $2::timestamptz, NULL FROM candidates WHERE matches
       ON CONFLICT (segment_id, profile_id) DO UPDATE SET entered_at = EXCLUDED.entered_at, left_at = NULL
        WHERE m.left_at IS NOT NULL
       RETURNING m.profile_id
     ),
     exited AS (
       UPDATE segment_members m SET left_at = $2::timestamptz FROM candidates c
        WHERE m.segment_id = $1::text AND m.left_at IS NULL AND ${filter.members} AND m.profile_id = c.id AND NOT c.matches
       RETURNING m.profile_id
     ),
     changes AS (
       INSERT INTO segment_changes (segment_id, profile_id, change, at)
       SELECT $1::text, profile_id, 'entered', $2::timestamptz FROM entered
       UNION ALL SELECT $1::text, profile_id, 'left', $2::timestamptz FROM exited
     ),
     tagged AS (
       UPDATE profiles p SET segments = CASE WHEN p.id IN (SELECT profile_id FROM entered)
                                             THEN array_append(array_remove(p.segments, $3::text), $3::text)
                                             ELSE array_remove(p.segments, $3::text) END
        WHERE p.id IN (SELECT profile_id FROM entered UNION ALL SELECT profile_id FROM exited)
     )
     SELECT (SELECT count(*)::int FROM entered) AS entered, (SELECT count(*)::int FROM exited) AS left`,
    params: [...fixed, ...condition.params],
  };
}
