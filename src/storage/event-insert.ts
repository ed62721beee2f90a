/** The columns every stored event has, in the order the event insert takes them. */
export const EVENT_COLUMNS = 'id, type, profile_id, session_id, source_id, properties, traits, context, tags, metadata, occurred_at, inserted_at';

/**
 * The one place events are stored, for /track and for system events alike: the rows of `source` (a
 * relation with EVENT_COLUMNS), an id already stored (client-sent, or a repeated registration) kept once.
 */
export function insertEventsFrom(source: string): string {
  return `INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM ${source} ON CONFLICT (id) DO NOTHING`;
}
