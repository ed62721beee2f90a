-- Data migrations run in the background of every process that holds the store, one process at a time
-- a run: the one holding its lease, which it renews with each batch. Once a killed holder's lease runs
-- out, another process (or the restarted one) takes the run over from its last batch.
ALTER TABLE job_runs ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz;
