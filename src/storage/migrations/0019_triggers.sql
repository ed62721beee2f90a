-- The trigger worker's side of the segment_changes outbox.

-- Why a change started no run although consumed: 'profile-deleted' (the profile is gone since).
ALTER TABLE segment_changes ADD COLUMN skipped text;

-- A change is handed out only once no earlier change of its profile waits: this finds those quickly.
CREATE INDEX segment_changes_profile_waiting ON segment_changes (profile_id, seq) WHERE consumed_at IS NULL;
CREATE INDEX segment_changes_skipped ON segment_changes (consumed_at) WHERE skipped IS NOT NULL;

-- Runs started per minute, for the trigger worker's backlog.
CREATE INDEX workflow_runs_by_change ON workflow_runs (created_at) WHERE change_seq IS NOT NULL;
