-- Redirects (Tracardi's redirect bridge): GET /redirect/{id} tracks `event_type` from `source_id`
-- with `properties` (a template over the query string), then answers 307 to `url`.
CREATE TABLE redirects (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  url         text NOT NULL,
  event_type  text NOT NULL,
  source_id   text NOT NULL,
  properties  jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What each bridge of each process last said about itself: a process rewrites its rows every few
-- seconds (`heartbeat_at`) and removes them when it stops; a row whose heartbeat is old belongs to a
-- process that died. Read by `meridian bridge status` and /healthcheck.
CREATE TABLE bridge_status (
  process_id     text NOT NULL,
  source_id      text NOT NULL,
  kind           text NOT NULL,
  host           text NOT NULL,
  pid            integer NOT NULL,
  state          text NOT NULL,
  received       bigint NOT NULL,
  stored         bigint NOT NULL,
  dead_lettered  bigint NOT NULL,
  retried        bigint NOT NULL,
  rate           double precision NOT NULL,
  last_error     text,
  last_error_at  timestamptz,
  started_at     timestamptz NOT NULL,
  heartbeat_at   timestamptz NOT NULL,
  PRIMARY KEY (process_id, source_id)
);
