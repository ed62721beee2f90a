import { createHash } from 'node:crypto';
import type { EventRecord } from './model.js';

/**
 * System events registered for sessions by the system itself (the heartbeat job), not by a tracker.
 * They are stored like every other event but are not user activity: they leave the session's
 * last-activity time alone.
 */

/** What registering the event does to its session, besides storing the event. */
export type SessionEffect = 'mark-inactive' | 'end-visit';

/** A session found due, as it was then; `lastActivity` is its last_event_at as exact ISO text (µs). */
export interface DueSession {
  id: string;
  profileId: string;
  lastActivity: string;
}

export interface SessionEventRegistration {
  type: string;
  effect: SessionEffect;
  /** A session whose last activity has moved since it was found is skipped: it is active again. */
  sessions: DueSession[];
  metadata: Record<string, unknown>;
}

/** A session the store has changed for a registration: the event for it is built from this. */
export interface AffectedSession extends DueSession {
  sourceId: string | null;
}

/** events.source_id is required; a session stored without one gets its events under this id. */
export const UNKNOWN_SOURCE_ID = 'system';

/**
 * One event per (session, type, last activity): a re-run, or a second run started at the same
 * moment, derives the same id and the store keeps it once. Shaped as a UUID (version 8, name-based).
 */
export function sessionEventId(sessionId: string, type: string, lastActivity: string): string {
  const bytes = createHash('sha256').update(`${sessionId}\u0000${type}\u0000${lastActivity}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function sessionEventRecord(session: AffectedSession, registration: SessionEventRegistration, now: Date): EventRecord {
  return {
    id: sessionEventId(session.id, registration.type, session.lastActivity),
    type: registration.type,
    profileId: session.profileId,
    sessionId: session.id,
    sourceId: session.sourceId ?? UNKNOWN_SOURCE_ID,
    save: true,
    properties: {},
    traits: {},
    context: {},
    tags: [],
    metadata: { ...registration.metadata, system: true, lastActivity: session.lastActivity },
    occurredAt: now,
    insertedAt: now,
  };
}
