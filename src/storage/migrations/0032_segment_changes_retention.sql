-- The heartbeat purges consumed segment changes made before SEGMENT_CHANGES_RETENTION_DAYS: this finds
-- them without reading the outbox whole. Unconsumed changes are never purged, and are not in it.
CREATE INDEX segment_changes_consumed ON segment_changes (at) WHERE consumed_at IS NOT NULL;
