-- How a profiles import lays its traits and PII over a stored profile's, as src/importing/deep-merge.ts
-- lays the rows of one profile over each other: an object over an object is merged key by key, at every
-- depth; any other value (text, number, array, null) replaces. plpgsql, as a recursive SQL function is
-- refused at creation (its body names a function not yet made). Imports call it only for rows holding an
-- object among their values; flat ones are merged with `||`.
CREATE FUNCTION jsonb_merge_deep(stored jsonb, incoming jsonb) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path FROM CURRENT AS $$
BEGIN
  IF jsonb_typeof(stored) IS DISTINCT FROM 'object' OR jsonb_typeof(incoming) IS DISTINCT FROM 'object' THEN
    RETURN incoming;
  END IF;
  RETURN stored || coalesce(
    (SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'object' AND jsonb_typeof(stored -> key) = 'object'
                                       THEN jsonb_merge_deep(stored -> key, value)
                                       ELSE value END)
       FROM jsonb_each(incoming)),
    '{}');
END
$$;
