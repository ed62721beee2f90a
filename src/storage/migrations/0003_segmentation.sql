-- Segments, their members over time, and the outbox of entries and exits that triggers consume.

CREATE TABLE segments (
  id           text PRIMARY KEY,
  name         text NOT NULL,
  -- "Big spenders" → big-spenders: what profiles.segments holds, as Tracardi stores it
  machine_name text NOT NULL UNIQUE,
  description  text NOT NULL DEFAULT '',
  condition    text NOT NULL,
  enabled      boolean NOT NULL DEFAULT true,
  -- re-evaluate after tracking only for these event types; empty means any
  event_types  text[] NOT NULL DEFAULT '{}',
  last_run_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per (segment, profile) ever a member; left_at IS NULL while the profile is in.
CREATE TABLE segment_members (
  segment_id text NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  profile_id text NOT NULL,
  entered_at timestamptz NOT NULL,
  left_at    timestamptz,
  PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_members_current ON segment_members (segment_id, profile_id) WHERE left_at IS NULL;
CREATE INDEX segment_members_profile ON segment_members (profile_id);

CREATE TABLE segment_changes (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  segment_id text NOT NULL,
  profile_id text NOT NULL,
  change     text NOT NULL CHECK (change IN ('entered', 'left')),
  at         timestamptz NOT NULL,
  -- set by the trigger worker once it has acted on the change
  consumed_at timestamptz
);
CREATE INDEX segment_changes_unconsumed ON segment_changes (seq) WHERE consumed_at IS NULL;

-- Profiles that tracking changed and that segments must look at again, written in the same
-- transaction as the events, so the work survives a crash between commit and segmentation.
CREATE TABLE segmentation_pending (
  profile_id  text PRIMARY KEY,
  event_types text[] NOT NULL DEFAULT '{}',
  queued_at   timestamptz NOT NULL DEFAULT now()
);
