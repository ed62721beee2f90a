-- The heartbeat job finds due sessions from the sessions table alone: each session remembers which
-- event types the job has registered for it since its last activity (/track clears the list when the
-- session is active again). A run then needs no look into events to skip sessions already handled,
-- and a re-run over a million idle sessions reads only the sessions.
ALTER TABLE sessions ADD COLUMN registered_types text[] NOT NULL DEFAULT '{}';

UPDATE sessions s SET registered_types = marks.types
  FROM (SELECT e.session_id, array_agg(DISTINCT e.type) AS types
          FROM events e JOIN sessions s2 ON s2.id = e.session_id
         WHERE e.metadata ? 'registeredBy' AND e.inserted_at >= s2.last_event_at
         GROUP BY e.session_id) AS marks
 WHERE s.id = marks.session_id;

-- The job's own changes (flags, marks, visit end) touch no indexed column: with room left on each
-- page they are HOT updates, which write no index entries.
ALTER TABLE sessions SET (fillfactor = 85);

-- Events arrive in time order, so a block-range index serves time ranges at a fraction of a
-- B-tree's cost on every insert.
DROP INDEX events_occurred_at;
CREATE INDEX events_occurred_at ON events USING brin (occurred_at);

-- Only mapped event types have traits: the others need no entry in the traits index. Queries say
-- `traits <> '{}' AND traits @> …` to use it.
DROP INDEX events_traits;
CREATE INDEX events_traits ON events USING gin (traits jsonb_path_ops) WHERE traits <> '{}';
