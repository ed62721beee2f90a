-- The generation of the workflow rules: any change to rules or flows, through any process, counts it
-- up in the same transaction. A commit reads it with its locks and compares it with the generation its
-- cached rules were read at: equal, the cache is exact and the commit matches its events against it
-- (running local flows itself, and skipping all rule work when no rule exists); different, the commit
-- steps match the events in SQL as before, and the cache is read again.
CREATE TABLE workflow_rules_generation (
  only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  generation bigint NOT NULL
);
INSERT INTO workflow_rules_generation (generation) VALUES (1);

CREATE FUNCTION workflow_rules_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE workflow_rules_generation SET generation = generation + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER rules_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
  FOR EACH STATEMENT EXECUTE FUNCTION workflow_rules_changed();
CREATE TRIGGER flows_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flows
  FOR EACH STATEMENT EXECUTE FUNCTION workflow_rules_changed();
