-- Scheduled items: delayed events and resumes of paused workflow runs. This table is the source of
-- truth; the job queue only wakes the scheduler worker, and its sweep finds whatever no wake-up reached.
CREATE TABLE scheduled (
  id            text PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('event', 'resume')),
  due_at        timestamptz NOT NULL,
  state         text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'dead', 'cancelled')),
  -- claims so far: the running claim's number is its token, so a worker whose claim expired and was
  -- taken over cannot mark the item done
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  payload       jsonb NOT NULL,
  -- the event's profile, for GET /scheduled?profile=
  profile_id    text,
  claimed_until timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  done_at       timestamptz
);
CREATE INDEX scheduled_due ON scheduled (due_at, id) WHERE state = 'pending';
CREATE INDEX scheduled_claimed ON scheduled (claimed_until) WHERE state = 'running';
CREATE INDEX scheduled_state ON scheduled (state, due_at);
CREATE INDEX scheduled_profile ON scheduled (profile_id, due_at) WHERE profile_id IS NOT NULL;
-- finished items: the summary's recent lateness, and the retention that removes old ones
CREATE INDEX scheduled_finished ON scheduled (done_at) WHERE state IN ('done', 'cancelled');

-- Scheduled events are tracked through the collect pipeline, which takes events from a known, enabled
-- source only: this one, unless an item names another. Disabling it holds scheduled events back (they
-- fail, retry and end dead with the reason).
INSERT INTO event_sources (id, name, description)
VALUES ('scheduler', 'Scheduler', 'Events scheduled with POST /scheduled or by a flow')
ON CONFLICT (id) DO NOTHING;
