-- /track looks profiles up by merged id on every batch. GIN's pending list (fastupdate) makes
-- those lookups scan every profile inserted since the last vacuum: under steady tracking, that
-- is most of the recent ones. Without it, each insert updates the index at once.
ALTER INDEX profiles_merged_ids SET (fastupdate = off);
