-- Post-collection mapping: mapping definitions, which (mapping, event) pairs have reached a profile,
-- and runs of background work with their batches (progress and resumption).

CREATE TABLE mappings (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('event-props-to-traits', 'event-to-profile')),
  event_type text NOT NULL,
  -- {"properties.price": "traits.price"} or [{"event": …, "profile": …, "op": …}], by kind
  mapping    jsonb NOT NULL,
  condition  text,
  enabled    boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mappings_enabled_by_type ON mappings (event_type) WHERE enabled;

-- An event-to-profile mapping applied to an event, at collection time or by a backfill: a re-run
-- skips it, so increments and appends happen once. No foreign key: tracking records markers for
-- the mappings it had cached, and a mapping deleted meanwhile must not fail the /track commit.
CREATE TABLE mapping_applied (
  mapping_id text NOT NULL,
  event_id   text NOT NULL,
  PRIMARY KEY (mapping_id, event_id)
);

-- Event traits are the typed, queryable copy of chosen properties.
CREATE INDEX events_traits ON events USING gin (traits jsonb_path_ops);

CREATE TABLE job_runs (
  id           text PRIMARY KEY,
  kind         text NOT NULL,
  -- what the run works on: the mapping id of a mapping backfill
  subject      text,
  params       jsonb NOT NULL DEFAULT '{}',
  -- items (events) found when the run was planned, and items processed so far
  total        bigint NOT NULL DEFAULT 0,
  done         bigint NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  batches      integer NOT NULL DEFAULT 0,
  batches_done integer NOT NULL DEFAULT 0,
  last_error   text,
  failed_at    timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);

-- One row per batch, planned up front: a batch job marks its row done in the transaction that
-- applies it, so a redelivered batch finds it done and changes nothing.
CREATE TABLE job_run_batches (
  run_id   text NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
  batch    integer NOT NULL,
  -- events.seq range [from_seq, to_seq)
  from_seq bigint NOT NULL,
  to_seq   bigint NOT NULL,
  items    integer NOT NULL,
  done_at  timestamptz,
  PRIMARY KEY (run_id, batch)
);
CREATE INDEX job_run_batches_pending ON job_run_batches (run_id) WHERE done_at IS NULL;
