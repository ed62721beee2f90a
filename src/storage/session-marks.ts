/**
 * The heartbeat's marks on a session (`s`): the event types it registered, and the last activity they
 * were registered for. Marks for an earlier activity are stale, whoever moved the activity on, so no
 * writer of sessions has to clear them.
 */

/** The session carries a current mark of the type in `typeParam` (e.g. `$4`). */
export function markedWith(typeParam: string): string {
  return `(s.registered_for IS NOT DISTINCT FROM s.last_event_at AND ${typeParam} = ANY (s.registered_types))`;
}

/** SET clauses adding the type in `typeParam` to the marks of the current activity. */
export function addMark(typeParam: string): string {
  return `registered_types = CASE WHEN s.registered_for IS NOT DISTINCT FROM s.last_event_at
                                  THEN array_append(s.registered_types, ${typeParam}) ELSE ARRAY[${typeParam}]::text[] END,
          registered_for = s.last_event_at`;
}
