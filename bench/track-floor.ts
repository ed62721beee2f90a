/**
 * The floor under /track: what durably storing the rows /track stores costs at the least, with no HTTP,
 * no reads, no locks and no commit steps. Each flush of F requests is one statement of data-modifying
 * CTEs in its own (durable) transaction, against the same tables and indexes: a new visitor's profile,
 * session and four events (three system events and the page view), a returning visitor's profile and
 * session updated and one event. Lanes run flushes side by side, as the API's commit lanes do; each
 * lane has its own returning visitors, so that lanes never wait for one another's row locks.
 */
import type { Database } from '../src/storage/database.js';
import { insertEventsFrom } from '../src/storage/event-insert.js';
import { EVENT_RECORD } from '../src/storage/sql-tracking-store.js';
import { timeOrderedId } from '../src/shared/ids.js';
import { PAGES, type TrackMix } from './track-mix.js';

export interface FloorSettings {
  /** Flushes in flight at once (the API's COMMIT_LANES; 1 on PGlite, which runs one at a time). */
  lanes: number;
  /** Requests a flush carries on average: what the /track run measured. */
  flushSize: number;
  durationS: number;
  mix: TrackMix;
  /** CPU seconds of whatever runs the SQL (the backends, or this process for PGlite) so far. */
  cpuSeconds: () => Promise<number>;
}

export interface FloorFigures {
  lanes: number;
  flushSize: number;
  reqPerSec: number;
  /** CPU milliseconds per request of the engine. */
  cpuMsPerRequest: number;
}

const FLOOR_FLUSH = `WITH new_profiles AS (
    INSERT INTO profiles (id, visits, current_visit_at, active, created_at, updated_at)
    SELECT id, 1, $1, true, $1, $1 FROM unnest($2::text[]) AS id
  ), touched_profiles AS (
    UPDATE profiles SET active = true, updated_at = $1, version = version + 1 WHERE id = ANY($3::text[])
  ), new_sessions AS (
    INSERT INTO sessions (id, profile_id, source_id, events_count, visit_started_at, created_at, last_event_at, updated_at)
    SELECT s.id, s.profile_id, $4, 1, $1, $1, $1, $1 FROM unnest($5::text[], $2::text[]) AS s(id, profile_id)
  ), touched_sessions AS (
    UPDATE sessions SET status = 'active', events_count = events_count + 1, last_event_at = $1, updated_at = $1
     WHERE id = ANY($6::text[])
  ), stored_events AS (
    ${insertEventsFrom(`jsonb_to_recordset($7::text::jsonb) AS r(${EVENT_RECORD})`, 'fail')}
  )
  SELECT 1`;

const SYSTEM_EVENTS = ['profile-created', 'session-opened', 'visit-started'];

/** One flush's parameters: `size` requests, new or returning visitors of this lane in the mix's share. */
function flushParameters(size: number, mix: TrackMix, returning: TrackMix['pool']): unknown[] {
  const now = new Date();
  const newProfiles: string[] = [];
  const newSessions: string[] = [];
  const touched = new Map<string, string>();
  const events: Record<string, unknown>[] = [];
  const event = (type: string, profileId: string, sessionId: string, system: boolean) => {
    const page = PAGES[Math.floor(Math.random() * PAGES.length)]!;
    events.push({
      id: timeOrderedId(now),
      type,
      profile_id: profileId,
      session_id: sessionId,
      source_id: mix.sourceId,
      properties: system ? {} : { url: `https://shop.example${page}`, title: `Page ${page}`, referrer: '' },
      traits: {},
      context: {},
      tags: [],
      metadata: system ? { system: true } : {},
      occurred_at: now,
      inserted_at: now,
    });
  };
  for (let index = 0; index < size; index++) {
    const visitor =
      returning.length > 0 && Math.random() >= mix.newRatio ? returning[index % returning.length] : undefined;
    if (visitor && !touched.has(visitor.profile)) {
      touched.set(visitor.profile, visitor.session);
      event('page-view', visitor.profile, visitor.session, false);
      continue;
    }
    const profileId = timeOrderedId(now);
    const sessionId = timeOrderedId(now);
    newProfiles.push(profileId);
    newSessions.push(sessionId);
    for (const type of SYSTEM_EVENTS) event(type, profileId, sessionId, true);
    event('page-view', profileId, sessionId, false);
  }
  return [
    now,
    newProfiles,
    [...touched.keys()].sort(),
    mix.sourceId,
    newSessions,
    [...touched.values()].sort(),
    JSON.stringify(events),
  ];
}

/** Flushes of about `flushSize` requests, `lanes` at a time, for `durationS` after a one-second warm-up. */
export async function measureFloor(db: Database, settings: FloorSettings): Promise<FloorFigures> {
  const { lanes, flushSize, mix } = settings;
  const whole = Math.floor(flushSize);
  const sizeOfNextFlush = () => whole + (Math.random() < flushSize - whole ? 1 : 0);
  const lanePools = Array.from({ length: lanes }, (_, lane) => mix.pool.filter((_, index) => index % lanes === lane));
  const run = async (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    let requests = 0;
    await Promise.all(
      lanePools.map(async (pool) => {
        while (Date.now() < until) {
          const size = Math.max(1, sizeOfNextFlush());
          await db.query(
            FLOOR_FLUSH,
            flushParameters(
              size,
              mix,
              [...pool].sort(() => Math.random() - 0.5),
            ),
          );
          requests += size;
        }
      }),
    );
    return requests;
  };
  await run(1);
  const cpuBefore = await settings.cpuSeconds();
  const started = process.hrtime.bigint();
  const requests = await run(settings.durationS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await settings.cpuSeconds()) - cpuBefore;
  return { lanes, flushSize, reqPerSec: requests / seconds, cpuMsPerRequest: (cpu * 1000) / requests };
}
