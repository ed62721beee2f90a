-- Imports: saved configurations, their runs and the rows a run rejected. A run keeps a checkpoint
-- (how far its source was read and committed), so a paused, cancelled or killed run goes on from
-- there; the events it stores carry ids derived from (import, row key), so a batch read twice is
-- stored once.
CREATE TABLE imports (
  id              text PRIMARY KEY,
  name            text NOT NULL,
  description     text NOT NULL DEFAULT '',
  -- the source's settings without its credentials
  source          jsonb NOT NULL,
  -- the credentials, AES-256-GCM encrypted (iv, tag, ciphertext; base64); never returned by the API
  secret          text,
  event_source_id text NOT NULL,
  event_type      text NOT NULL,
  target          text NOT NULL DEFAULT 'events' CHECK (target IN ('events', 'profiles')),
  mapping         jsonb NOT NULL DEFAULT '{}',
  options         jsonb NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE import_runs (
  id            text PRIMARY KEY,
  import_id     text NOT NULL,
  -- the configuration as it was when the run started, so that editing the import does not change a run
  config        jsonb NOT NULL,
  state         text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'paused', 'cancelled', 'done', 'failed')),
  rows_read     bigint NOT NULL DEFAULT 0,
  rows_stored   bigint NOT NULL DEFAULT 0,
  rows_rejected bigint NOT NULL DEFAULT 0,
  -- what the source can tell up front (rows of a table, bytes of a file), and how far the reader is in it
  total         bigint,
  position      bigint NOT NULL DEFAULT 0,
  checkpoint    jsonb,
  -- the worker that has the run: a batch recorded under another claim stops its worker
  claim         text,
  last_error    text,
  -- time spent running, so rows/s leaves out the time a run was paused or waiting
  active_ms     bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
CREATE INDEX import_runs_import ON import_runs (import_id, created_at);
CREATE INDEX import_runs_unfinished ON import_runs (created_at) WHERE state IN ('queued', 'running');

-- the first rejections of a run (the count is on the run)
CREATE TABLE import_rejections (
  run_id  text NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
  -- the line of a file, or the key of a table row
  row_ref text NOT NULL,
  reason  text NOT NULL,
  PRIMARY KEY (run_id, row_ref)
);
