-- Identity: key values that identify a person, identification points, and merge records.
-- Each data context has its own schema, so a key value is unique per context.

-- A key value belongs to at most one profile. The primary key is what makes two transactions that
-- claim one value at once (two API processes) agree: the second waits for the first and finds it taken.
CREATE TABLE identity_keys (
  key        text NOT NULL,
  value      text NOT NULL,
  profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key, value)
);
CREATE INDEX identity_keys_profile ON identity_keys (profile_id);

CREATE TABLE identification_points (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  event_type text NOT NULL,
  source_id  text,
  -- [{event: 'properties.email', profile: 'pii.email'}]
  fields     jsonb NOT NULL,
  enabled    boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every merge, with what undoing it needs: the before-image of every profile it joined, the survivor
-- as it left it, and what the merged-away profiles had elsewhere (keys, memberships, sessions).
CREATE TABLE profile_merges (
  id          text PRIMARY KEY,
  survivor_id text NOT NULL,
  merged_ids  text[] NOT NULL,
  status      text NOT NULL CHECK (status IN ('merged', 'refused', 'undone')),
  reason      jsonb NOT NULL,
  before      jsonb NOT NULL DEFAULT '[]',
  after       jsonb,
  keys        jsonb NOT NULL DEFAULT '[]',
  memberships jsonb NOT NULL DEFAULT '[]',
  sessions    jsonb NOT NULL DEFAULT '[]',
  created_at  timestamptz NOT NULL DEFAULT now(),
  undone_at   timestamptz
);
CREATE INDEX profile_merges_survivor ON profile_merges (survivor_id);
CREATE INDEX profile_merges_merged ON profile_merges USING gin (merged_ids);
