import type { SqlExecutor } from './database.js';

/**
 * Adds the rows of `source` (profile_id, event_types; one row per profile) to the profiles that
 * segments must look at again, only while a segment is enabled; in profile order, so that two
 * writers lock the pending rows they share in the same order.
 */
export function queueForSegmentationFrom(source: string): string {
  return `INSERT INTO segmentation_pending (profile_id, event_types)
          SELECT profile_id, event_types FROM ${source}
           WHERE EXISTS (SELECT 1 FROM segments WHERE enabled)
           ORDER BY profile_id
          ON CONFLICT (profile_id) DO UPDATE
             SET event_types = ARRAY(SELECT DISTINCT unnest(segmentation_pending.event_types || EXCLUDED.event_types))`;
}

/** Queues distinct profiles that one event type changed (see queueForSegmentationFrom). */
export async function queueProfilesForSegmentation(
  tx: SqlExecutor,
  profileIds: string[],
  eventType: string,
): Promise<void> {
  if (profileIds.length === 0) return;
  await tx.query(
    queueForSegmentationFrom(
      '(SELECT DISTINCT unnest($1::text[]) AS profile_id, ARRAY[$2::text] AS event_types) AS affected',
    ),
    [profileIds, eventType],
  );
}
