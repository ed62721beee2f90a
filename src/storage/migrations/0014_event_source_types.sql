-- An event source has a kind: `rest` (named by /track) or a broker a bridge consumes
-- (`meridian bridge KIND`), whose connection and format are in `config`.
ALTER TABLE event_sources
  ADD COLUMN type   text  NOT NULL DEFAULT 'rest',
  ADD COLUMN config jsonb NOT NULL DEFAULT '{}';
