-- The heartbeat job pages over sessions by (last activity, id) within a time range; this index
-- serves the range and the keyset together, and replaces the single-column one.
CREATE INDEX sessions_last_activity ON sessions (last_event_at, id);
DROP INDEX sessions_last_event_at;
