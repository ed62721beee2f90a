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

/** events.source_id is required; a session stored without one gets its events under this id. */
export const UNKNOWN_SOURCE_ID = 'system';
