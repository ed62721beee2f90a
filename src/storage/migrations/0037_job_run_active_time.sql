-- Time spent working through a run's batches, pauses between runners left out: a data migration's
-- rows/s and ETA are told from it.
ALTER TABLE job_runs ADD COLUMN active_ms bigint NOT NULL DEFAULT 0;
