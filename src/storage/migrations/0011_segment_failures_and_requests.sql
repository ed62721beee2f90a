-- A segment whose condition fails at run time is set aside with the error and when, so that it never
-- holds back the others' segmentation; saving it again (or a segmentation job) gives it another try.
ALTER TABLE segments ADD COLUMN failed_at timestamptz, ADD COLUMN failure text;

-- Each save asks for a full re-decision of the members (resegment_requested counts the asks); the ask
-- is done once its work is in the job queue (resegment_queued catches up). Kept in the database, so a
-- queue outage delays the work instead of losing it: the segmentation worker queues what is left.
ALTER TABLE segments
  ADD COLUMN resegment_requested bigint NOT NULL DEFAULT 0,
  ADD COLUMN resegment_queued bigint NOT NULL DEFAULT 0;
