-- A running import run is its worker's while that worker renews its lease (with each batch, and on a
-- timer while a batch or a throttle wait takes long). A worker killed stops renewing: once the lease runs
-- out, the run's job, handed out again, lets another worker take the run over from its checkpoint. A run
-- left running by an earlier version has no lease: it is taken over as one whose lease ran out.
ALTER TABLE import_runs ADD COLUMN lease_until timestamptz;
