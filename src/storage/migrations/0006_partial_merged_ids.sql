-- Profiles are looked up by merged id on every /track batch, but only merged profiles have any.
-- A partial index leaves every other profile out of it: inserting or updating an unmerged
-- profile costs the GIN index nothing. Queries say `ids <> '{}' AND ids && …` to use it.
-- Still without a pending list (0005): lookups never scan recently inserted entries.
DROP INDEX profiles_merged_ids;
CREATE INDEX profiles_merged_ids ON profiles USING gin (ids) WITH (fastupdate = off) WHERE ids <> '{}';
