-- Events an import stored on sessions it did not create, not yet counted on them (tracking/history-commit.ts):
-- a row a session and batch, appended without a lock; the settle counts them onto their sessions, carries
-- the visits on and deletes them, whichever process does it. No index: the settle takes them all.
CREATE TABLE session_touches (
  session_id text NOT NULL,
  events     integer NOT NULL,
  touched_at timestamptz NOT NULL
);
