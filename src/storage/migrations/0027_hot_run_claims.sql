-- Claiming a run changes its status, so an index that names status (0023's paused-runs index did, in
-- its predicate) gives every claim new entries in every index of the table. Paused runs are found by
-- their pause and filtered by status: a claim then touches no indexed column and is updated in place.
DROP INDEX workflow_runs_paused_until_event;
CREATE INDEX workflow_runs_paused_until_event ON workflow_runs (profile_id, (pause->>'untilEventType'))
  WHERE pause->>'untilEventType' IS NOT NULL;
