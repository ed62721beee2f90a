-- Paused runs waiting for an event (pause `untilEventType`), found by every commit of events by profile and type.
CREATE INDEX workflow_runs_paused_until_event ON workflow_runs (profile_id, (pause->>'untilEventType'))
  WHERE status = 'paused' AND pause->>'untilEventType' IS NOT NULL;
