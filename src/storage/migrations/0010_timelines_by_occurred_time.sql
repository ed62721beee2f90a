-- Timelines list events newest first by the time they occurred, equal times in storage order (seq):
-- a profile's or session's timeline reads its index in that order, and pages by (occurred_at, seq).
-- The two indexes are rebuilt with the time in their key, so events keep the same number of indexes.
-- (Rebuilding them holds up event inserts while it runs: migrate before rolling out.)
DROP INDEX events_profile;
CREATE INDEX events_profile ON events (profile_id, occurred_at, seq);
DROP INDEX events_session;
CREATE INDEX events_session ON events (session_id, occurred_at, seq);
