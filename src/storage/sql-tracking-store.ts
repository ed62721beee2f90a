import type { SqlExecutor, Database } from './database.js';
import { isRetryable } from './database.js';
import type { ProfileState, SessionState, SessionStatus, TrackCommand, TrackOutcome } from '../tracking/model.js';
import type { TrackingStore } from '../tracking/ports.js';
import { applyTrackCommand, VisitLedger } from '../tracking/visit.js';

/** Another transaction created a session this batch was about to create: run the batch again. */
class SessionRace extends Error {}

const MAX_ATTEMPTS = 8;

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

const PROFILE_RECORD = `id text, visits int, last_visit_at timestamptz, current_visit_at timestamptz,
  active boolean, created_at timestamptz, updated_at timestamptz`;
const SESSION_RECORD = `id text, profile_id text, source_id text, status text, device jsonb, os jsonb, app jsonb,
  context jsonb, inactive boolean, events_count int, visit_started_at timestamptz, visit_ended_at timestamptz,
  created_at timestamptz, last_event_at timestamptz, updated_at timestamptz`;
const EVENT_RECORD = `id text, type text, profile_id text, session_id text, source_id text, properties jsonb,
  context jsonb, tags text[], metadata jsonb, occurred_at timestamptz, inserted_at timestamptz`;

/**
 * Commits a batch of /track commands in one transaction with a fixed number of statements, whatever
 * the batch size: lock the sessions and profiles it touches (in id order, so concurrent batches on
 * other API processes queue rather than deadlock), apply the commands in memory, write set-based.
 */
export class SqlTrackingStore implements TrackingStore {
  constructor(private readonly db: Database) {}

  async commit(commands: TrackCommand[], now: Date): Promise<TrackOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.commitIn(tx, commands, now));
      } catch (error) {
        const retry = error instanceof SessionRace || isRetryable(error);
        if (!retry || attempt >= MAX_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    }
  }

  private async commitIn(tx: SqlExecutor, commands: TrackCommand[], now: Date): Promise<TrackOutcome[]> {
    const sessionIds = unique(commands.map((command) => command.sessionId));
    const sessions =
      sessionIds.length === 0
        ? []
        : await tx.query<SessionRow>(
            `SELECT id, profile_id, source_id, status, events_count, visit_started_at, visit_ended_at, last_event_at,
                    inactive, created_at, device, os, app, context
               FROM sessions WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
            [sessionIds],
          );
    const profileIds = unique([...commands.map((command) => command.profileId), ...sessions.map((row) => row.profile_id)]);
    const profiles =
      profileIds.length === 0
        ? []
        : await tx.query<ProfileRow>(
            `SELECT id, ids, visits, last_visit_at, current_visit_at, active, created_at
               FROM profiles WHERE id = ANY($1::text[]) OR ids && $1::text[] ORDER BY id FOR UPDATE`,
            [profileIds],
          );

    const ledger = new VisitLedger(profiles.map(toProfile), sessions.map(toSession));
    const applied = commands.map((command) => applyTrackCommand(ledger, command, now));
    await this.writeProfiles(tx, ledger, now);
    await this.writeSessions(tx, ledger, now);
    const stored = await this.writeEvents(tx, ledger);

    const seen = new Set<string>();
    return applied.map(({ profileId, sessionId, eventIds }, index) => {
      const saved = commands[index]!.save.events;
      const duplicateEventIds = saved ? eventIds.filter((id) => !stored.has(id) || seen.has(id)) : [];
      for (const id of eventIds) seen.add(id);
      return { profileId, sessionId, eventIds, duplicateEventIds };
    });
  }

  private async writeProfiles(tx: SqlExecutor, ledger: VisitLedger, now: Date): Promise<void> {
    const rows = (ids: Set<string>) =>
      [...ids]
        .filter((id) => !ledger.unsavedProfiles.has(id))
        .map((id) => ledger.profiles.get(id)!)
        .map((profile) => ({
          id: profile.id,
          visits: profile.visits,
          last_visit_at: profile.lastVisitAt,
          current_visit_at: profile.currentVisitAt,
          active: profile.active,
          created_at: profile.createdAt,
          updated_at: now,
        }));
    const created = rows(ledger.newProfiles);
    if (created.length > 0) {
      await tx.query(
        `INSERT INTO profiles (id, visits, last_visit_at, current_visit_at, active, created_at, updated_at)
         SELECT id, visits, last_visit_at, current_visit_at, active, created_at, updated_at
           FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD})`,
        [JSON.stringify(created)],
      );
    }
    const changed = rows(ledger.changedProfiles);
    if (changed.length > 0) {
      await tx.query(
        `UPDATE profiles p SET visits = r.visits, last_visit_at = r.last_visit_at, current_visit_at = r.current_visit_at,
                active = r.active, updated_at = r.updated_at, version = p.version + 1
           FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_RECORD}) WHERE p.id = r.id`,
        [JSON.stringify(changed)],
      );
    }
  }

  private async writeSessions(tx: SqlExecutor, ledger: VisitLedger, now: Date): Promise<void> {
    const rows = (ids: Set<string>) =>
      [...ids]
        .filter((id) => !ledger.unsavedSessions.has(id))
        .map((id) => ledger.sessions.get(id)!)
        .map((session) => ({
          id: session.id,
          profile_id: session.profileId,
          source_id: session.sourceId,
          status: session.status,
          ...session.facts,
          inactive: session.inactive,
          events_count: session.eventsCount,
          visit_started_at: session.visitStartedAt,
          visit_ended_at: session.visitEndedAt,
          created_at: session.createdAt,
          last_event_at: session.lastEventAt,
          updated_at: now,
        }));
    const created = rows(ledger.newSessions);
    if (created.length > 0) {
      const inserted = await tx.query(
        `INSERT INTO sessions (id, profile_id, source_id, status, device, os, app, context, inactive, events_count,
                               visit_started_at, visit_ended_at, created_at, last_event_at, updated_at)
         SELECT id, profile_id, source_id, status, device, os, app, context, inactive, events_count,
                visit_started_at, visit_ended_at, created_at, last_event_at, updated_at
           FROM jsonb_to_recordset($1::text::jsonb) AS r(${SESSION_RECORD})
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [JSON.stringify(created)],
      );
      if (inserted.length < created.length) throw new SessionRace();
    }
    const changed = rows(ledger.changedSessions);
    if (changed.length > 0) {
      await tx.query(
        `UPDATE sessions s SET profile_id = r.profile_id, status = r.status, device = r.device, inactive = r.inactive,
                events_count = r.events_count, visit_started_at = r.visit_started_at, visit_ended_at = r.visit_ended_at,
                last_event_at = r.last_event_at, updated_at = r.updated_at
           FROM jsonb_to_recordset($1::text::jsonb) AS r(${SESSION_RECORD}) WHERE s.id = r.id`,
        [JSON.stringify(changed)],
      );
    }
  }

  /** Returns the ids actually inserted: a client-sent id already stored is kept once. */
  private async writeEvents(tx: SqlExecutor, ledger: VisitLedger): Promise<Set<string>> {
    const rows = ledger.events
      .filter((event) => event.save)
      .map((event) => ({
        id: event.id,
        type: event.type,
        profile_id: event.profileId,
        session_id: event.sessionId,
        source_id: event.sourceId,
        properties: event.properties,
        context: event.context,
        tags: event.tags,
        metadata: event.metadata,
        occurred_at: event.occurredAt,
        inserted_at: event.insertedAt,
      }));
    if (rows.length === 0) return new Set();
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO events (id, type, profile_id, session_id, source_id, properties, context, tags, metadata, occurred_at, inserted_at)
       SELECT id, type, profile_id, session_id, source_id, properties, context, tags, metadata, occurred_at, inserted_at
         FROM jsonb_to_recordset($1::text::jsonb) AS r(${EVENT_RECORD})
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [JSON.stringify(rows)],
    );
    return new Set(inserted.map((row) => row.id));
  }
}

function unique(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}
