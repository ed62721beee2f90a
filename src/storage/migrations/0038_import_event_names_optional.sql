-- An import that stores no event (target profiles, a Tracardi export of profiles or sessions) names no
-- event source or type: null there. Saving still requires them where rows become events.
ALTER TABLE imports
  ALTER COLUMN event_source_id DROP NOT NULL,
  ALTER COLUMN event_type DROP NOT NULL;
