-- Meridian's core tables. Ids are text: Tracardi clients and importers send their own ids,
-- and most of them are UUIDs, but nothing in the wire format promises it.

CREATE TABLE event_sources (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE profiles (
  id               text PRIMARY KEY,
  -- ids of profiles merged into this one; they keep resolving to it
  ids              text[] NOT NULL DEFAULT '{}',
  traits           jsonb NOT NULL DEFAULT '{}',
  pii              jsonb NOT NULL DEFAULT '{}',
  data             jsonb NOT NULL DEFAULT '{}',
  stats            jsonb NOT NULL DEFAULT '{}',
  consents         jsonb NOT NULL DEFAULT '{}',
  segments         text[] NOT NULL DEFAULT '{}',
  metadata         jsonb NOT NULL DEFAULT '{}',
  active           boolean NOT NULL DEFAULT true,
  visits           integer NOT NULL DEFAULT 0,
  last_visit_at    timestamptz,
  current_visit_at timestamptz,
  version          bigint NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profiles_merged_ids ON profiles USING gin (ids);
CREATE INDEX profiles_updated_at ON profiles (updated_at);

CREATE TABLE sessions (
  id               text PRIMARY KEY,
  profile_id       text NOT NULL,
  source_id        text,
  -- started (new or reopened visit) → active (later events) → ended (visit-ended)
  status           text NOT NULL DEFAULT 'started',
  device           jsonb NOT NULL DEFAULT '{}',
  os               jsonb NOT NULL DEFAULT '{}',
  app              jsonb NOT NULL DEFAULT '{}',
  context          jsonb NOT NULL DEFAULT '{}',
  metadata         jsonb NOT NULL DEFAULT '{}',
  inactive         boolean NOT NULL DEFAULT false,
  events_count     integer NOT NULL DEFAULT 0,
  visit_started_at timestamptz NOT NULL DEFAULT now(),
  visit_ended_at   timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_event_at    timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_profile ON sessions (profile_id);
CREATE INDEX sessions_last_event_at ON sessions (last_event_at);

CREATE TABLE events (
  -- seq orders events as they were stored: the cursor for paging, newest first
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  id          text PRIMARY KEY,
  type        text NOT NULL,
  profile_id  text,
  session_id  text,
  source_id   text NOT NULL,
  properties  jsonb NOT NULL DEFAULT '{}',
  traits      jsonb NOT NULL DEFAULT '{}',
  context     jsonb NOT NULL DEFAULT '{}',
  tags        text[] NOT NULL DEFAULT '{}',
  metadata    jsonb NOT NULL DEFAULT '{}',
  status      text NOT NULL DEFAULT 'collected',
  occurred_at timestamptz NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_profile ON events (profile_id, seq);
CREATE INDEX events_session ON events (session_id, seq);
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_occurred_at ON events (occurred_at);

-- Small key/value facts about this installation (e.g. the embedded admin token).
CREATE TABLE settings (
  key        text PRIMARY KEY,
  value      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
