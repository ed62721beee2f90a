-- Workflows: flows (graphs of action nodes), the rules that route events and segment changes to them,
-- and one row per run. A run is recorded in the transaction that commits its event (a commit step),
-- then executed; a recorded run that never finished is picked up again, so a crash loses nothing.
CREATE TABLE flows (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  type        text NOT NULL CHECK (type IN ('collection', 'segmentation')),
  enabled     boolean NOT NULL DEFAULT true,
  graph       jsonb NOT NULL,
  -- a flow holding an action that answers the client runs before the /track answer
  answers_client boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rules (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('event', 'segment-entered', 'segment-left')),
  event_type  text,
  source_id   text,
  segment_id  text,
  flow_id     text NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'event') = (event_type IS NOT NULL)),
  CHECK ((kind <> 'event') = (segment_id IS NOT NULL))
);
CREATE INDEX rules_event_type ON rules (event_type) WHERE kind = 'event';
CREATE INDEX rules_segment ON rules (segment_id) WHERE kind <> 'event';

CREATE TABLE workflow_runs (
  id           text PRIMARY KEY,
  flow_id      text NOT NULL,
  rule_id      text,
  -- what started it: an event (event_id), a segment change (change_seq), a debug or a resume
  trigger      text NOT NULL CHECK (trigger IN ('event', 'segment-entered', 'segment-left', 'manual', 'resume')),
  event_id     text,
  change_seq   bigint,
  profile_id   text,
  session_id   text,
  payload      jsonb NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'completed', 'failed', 'paused')),
  answers_client boolean NOT NULL DEFAULT false,
  attempts     integer NOT NULL DEFAULT 0,
  -- who runs it and until when: a claim that expired belongs to a process that died
  claimed_until timestamptz,
  trace        jsonb NOT NULL DEFAULT '[]',
  response     jsonb NOT NULL DEFAULT '{}',
  ux           jsonb NOT NULL DEFAULT '[]',
  memory       jsonb NOT NULL DEFAULT '{}',
  error        jsonb,
  pause        jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz
);
-- one run per (rule, event) and per (rule, segment change): a repeated commit or replay is harmless
CREATE UNIQUE INDEX workflow_runs_rule_event ON workflow_runs (rule_id, event_id) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX workflow_runs_rule_change ON workflow_runs (rule_id, change_seq) WHERE change_seq IS NOT NULL;
CREATE INDEX workflow_runs_unfinished ON workflow_runs (created_at) WHERE status IN ('pending', 'running');
CREATE INDEX workflow_runs_flow ON workflow_runs (flow_id, created_at);
CREATE INDEX workflow_runs_event ON workflow_runs (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE finished_at IS NOT NULL;
