-- A deploy overwrites production's segments with the test context's, whose machine names may have
-- traded places (two segments swapping names): the names are then unique again only once every copied
-- row is written, so the deploy checks them at its commit (SET CONSTRAINTS ALL DEFERRED). Everything
-- else still has them checked statement by statement. A deferrable constraint cannot be an arbiter of
-- ON CONFLICT: a segment's creation names its id as the one.
ALTER TABLE segments
  DROP CONSTRAINT segments_machine_name_key,
  ADD CONSTRAINT segments_machine_name_key UNIQUE (machine_name) DEFERRABLE INITIALLY IMMEDIATE;
