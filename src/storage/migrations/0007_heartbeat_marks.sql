-- The heartbeat job finds due sessions from the sessions table alone: each session remembers which
-- event types the job has registered for it, and for which last activity. Marks for an earlier
-- activity are stale, so a run skips the sessions it already handled without looking into events,
-- and a re-run over a million idle sessions reads only the sessions.
ALTER TABLE sessions ADD COLUMN registered_types text[] NOT NULL DEFAULT '{}';
ALTER TABLE sessions ADD COLUMN registered_for timestamptz;

-- Only a session the job has handled is inactive or ended; its own events are found through the
-- session's index.
UPDATE sessions s
   SET registered_types = marks.types, registered_for = s.last_event_at
  FROM (SELECT s2.id, ARRAY(SELECT DISTINCT e.type FROM events e
                             WHERE e.session_id = s2.id AND e.inserted_at >= s2.last_event_at AND e.metadata ? 'registeredBy'
                             ORDER BY 1) AS types
          FROM sessions s2 WHERE s2.inactive OR s2.status = 'ended') AS marks
 WHERE s.id = marks.id AND marks.types <> '{}';

-- The job's own changes (flags, marks, visit end) touch no indexed column: with room left on each
-- page they are HOT updates, which write no index entries.
ALTER TABLE sessions SET (fillfactor = 85);
