import { retryingTransaction, type Database } from './database.js';
import type { EventPage, EventQuery, EventView, ProfileView, SessionView } from '../tracking/views.js';
import type { TrackingReadModel } from '../tracking/ports.js';
import { iso, type Row } from './rows.js';

const ref = (id: unknown) => (typeof id === 'string' ? { id } : null);

const toProfile = (row: Row): ProfileView => ({
  id: row.id as string,
  ids: row.ids as string[],
  active: row.active as boolean,
  metadata: {
    time: {
      create: iso(row.created_at),
      update: iso(row.updated_at),
      visit: { last: iso(row.last_visit_at), current: iso(row.current_visit_at), count: row.visits as number },
    },
  },
  traits: row.traits as Row,
  pii: row.pii as Row,
  data: row.data as Row,
  stats: row.stats as Row,
  consents: row.consents as Row,
  segments: row.segments as string[],
});

const toSession = (row: Row): SessionView => ({
  id: row.id as string,
  profile: { id: row.profile_id as string },
  source: ref(row.source_id),
  status: row.status as string,
  inactive: row.inactive as boolean,
  eventsCount: row.events_count as number,
  device: row.device as Row,
  os: row.os as Row,
  app: row.app as Row,
  context: row.context as Row,
  metadata: {
    time: {
      create: iso(row.created_at),
      update: iso(row.updated_at),
      lastEvent: iso(row.last_event_at),
      visit: { started: iso(row.visit_started_at), ended: iso(row.visit_ended_at) },
    },
  },
});

const toEvent = (row: Row): EventView => ({
  id: row.id as string,
  type: row.type as string,
  profile: ref(row.profile_id),
  session: ref(row.session_id),
  source: { id: row.source_id as string },
  properties: row.properties as Row,
  traits: row.traits as Row,
  context: row.context as Row,
  tags: row.tags as string[],
  status: row.status as string,
  metadata: row.metadata as Row,
  time: { occurred: iso(row.occurred_at), inserted: iso(row.inserted_at) },
});

/** Epoch microseconds (a bigint parameter) as a timestamptz, exactly: no float on the way. */
const MICROS_TO_TIME = "(timestamptz 'epoch' + ?::bigint * interval '1 microsecond')";

/** Reads and deletes what collection stored. */
export class SqlReadModel implements TrackingReadModel {
  constructor(private readonly db: Database) {}

  /** Finds a profile by its id or by the id of a profile merged into it. */
  async profile(id: string): Promise<ProfileView | undefined> {
    const [row] = await this.db.query(
      `SELECT * FROM profiles WHERE id = $1 OR (ids <> '{}' AND ids && ARRAY[$1]::text[]) ORDER BY (id = $1) DESC LIMIT 1`,
      [id],
    );
    return row && toProfile(row);
  }

  async session(id: string): Promise<SessionView | undefined> {
    const [row] = await this.db.query('SELECT * FROM sessions WHERE id = $1', [id]);
    return row && toSession(row);
  }

  /**
   * Newest first by occurred time, equal times newest stored first (seq): an event sent with an earlier
   * time (the tracker's clock, a replay) shows below what occurred after it, such as the system events
   * its own request opened with. The cursor is the last event's occurred time in epoch
   * microseconds (the column's precision) and its seq: `<micros>_<seq>`.
   */
  async events(query: EventQuery): Promise<EventPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (query.type !== undefined) add('type = ?', query.type);
    // One id keeps the plain equality, which walks the (profile, occurred time) index in order.
    if (query.profileIds?.length === 1) add('profile_id = ?', query.profileIds[0]);
    else if (query.profileIds !== undefined) add('profile_id = ANY(?::text[])', query.profileIds);
    if (query.sessionId !== undefined) add('session_id = ?', query.sessionId);
    if (query.from !== undefined) add('occurred_at >= ?', query.from);
    if (query.to !== undefined) add('occurred_at < ?', query.to);
    if (query.cursor !== undefined) {
      const [micros, seq] = query.cursor.split('_');
      // The plain bound lets the occurred_at BRIN index skip newer blocks when no timeline index applies.
      add(`occurred_at <= ${MICROS_TO_TIME}`, micros);
      add(`(occurred_at, seq) < (${MICROS_TO_TIME.replace('?', `$${params.length}`)}, ?::bigint)`, seq);
    }
    params.push(query.limit + 1);
    const rows = await this.db.query(
      `SELECT *, (extract(epoch FROM occurred_at) * 1000000)::bigint::text AS occurred_micros
         FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY occurred_at DESC, seq DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toEvent),
      next: rows.length > query.limit && last ? `${String(last.occurred_micros)}_${String(last.seq)}` : null,
    };
  }

  /** Deletes the profile with its sessions and events; false when there is no such profile. */
  /**
   * Locks in the order /track and the heartbeat take them (sessions, then the profile), and deletes
   * the events last, in a statement whose snapshot sees those that writers holding the locks stored.
   * Memberships go by their foreign key; a deadlock with a writer that locks in another order (a
   * segmentation batch, a heartbeat page) is retried.
   */
  async deleteProfile(id: string): Promise<boolean> {
    return retryingTransaction(this.db, async (tx) => {
      const [found] = await tx.query<{ id: string }>(
        `SELECT id FROM profiles WHERE id = $1 OR (ids <> '{}' AND ids && ARRAY[$1]::text[])`,
        [id],
      );
      if (!found) return false;
      await tx.query('SELECT id FROM sessions WHERE profile_id = $1 ORDER BY id FOR UPDATE', [found.id]);
      // The profile leaves its segments on the record before its memberships go with it, so the
      // outbox holds every exit (the trigger worker consumes these as changes of a deleted profile).
      // Leaving by UPDATE waits for a concurrent segmentation of the same membership: one exit, not two.
      await tx.query(
        `WITH gone AS (UPDATE segment_members SET left_at = now() WHERE profile_id = $1 AND left_at IS NULL
                       RETURNING segment_id)
         INSERT INTO segment_changes (segment_id, profile_id, change, at) SELECT segment_id, $1, 'left', now() FROM gone`,
        [found.id],
      );
      const [deleted] = await tx.query<{ id: string; ids: string[] }>(
        'DELETE FROM profiles WHERE id = $1 RETURNING id, ids',
        [found.id],
      );
      if (!deleted) return false;
      // Sessions and events may still carry the id of a profile merged into this one.
      const ids = [deleted.id, ...deleted.ids];
      await tx.query('DELETE FROM sessions WHERE profile_id = ANY($1::text[])', [ids]);
      await tx.query('DELETE FROM segmentation_pending WHERE profile_id = $1', [deleted.id]);
      await tx.query('DELETE FROM events WHERE profile_id = ANY($1::text[])', [ids]);
      // Merge records hold before-images of the profile: its data goes with it.
      await tx.query('DELETE FROM profile_merges WHERE survivor_id = ANY($1::text[]) OR merged_ids && $1::text[]', [
        ids,
      ]);
      return true;
    });
  }
}
