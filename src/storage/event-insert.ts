/** The columns every stored event has, in the order the event insert takes them. */
const EVENT_COLUMNS =
  'id, type, profile_id, session_id, source_id, properties, traits, context, tags, metadata, occurred_at, inserted_at';

/** What the event insert does with an id already stored: keep the stored event, or fail the statement. */
export type OnDuplicateEvent = 'keep-stored' | 'fail';

/**
 * The one place events are stored, for /track and for system events alike: the rows of `source` (a
 * relation with EVENT_COLUMNS). An id already stored (client-sent, or a repeated registration) is kept
 * once; a writer that rules duplicates out by other means may ask to fail instead, which spares the
 * speculative insertion of ON CONFLICT, a cost on every row it stores.
 */
export function insertEventsFrom(source: string, onDuplicate: OnDuplicateEvent = 'keep-stored'): string {
  const insert = `INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM ${source}`;
  return onDuplicate === 'keep-stored' ? `${insert} ON CONFLICT (id) DO NOTHING` : insert;
}
