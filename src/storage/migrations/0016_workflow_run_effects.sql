-- What a run hands on after its commit: events it raises (tracked through the collect pipeline) and
-- events it schedules (for the scheduler), kept with the run so that neither is lost to a crash.
ALTER TABLE workflow_runs ADD COLUMN effects jsonb NOT NULL DEFAULT '[]';
-- Set by the commit that completes a run with raised events, cleared once they are tracked: a process
-- that dies in between leaves the flag, and the workflow worker's sweep tracks them (their ids are
-- derived from the run, so an event tracked twice is stored once).
ALTER TABLE workflow_runs ADD COLUMN raises_pending boolean NOT NULL DEFAULT false;
CREATE INDEX workflow_runs_raises_pending ON workflow_runs (finished_at) WHERE raises_pending;
-- An event's run has an id derived from its rule and event: the primary key already keeps it to one
-- run per (rule, event), and no read looks runs up by event. Each index costs every run three entries
-- (recorded, claimed, finished), which /track pays for when rules match.
DROP INDEX workflow_runs_rule_event;
DROP INDEX workflow_runs_event;
-- Claiming a run (status, attempts, claim) then touches no indexed column, so with room left on its
-- page PostgreSQL updates it in place (HOT), without new index entries: unfinished runs are found by
-- finished_at, not by status.
DROP INDEX workflow_runs_unfinished;
CREATE INDEX workflow_runs_unfinished ON workflow_runs (created_at) WHERE finished_at IS NULL;
ALTER TABLE workflow_runs SET (fillfactor = 80);
