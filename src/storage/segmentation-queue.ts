import type { SqlExecutor } from './database.js';
import type { CommitStep, CommittedChanges } from '../tracking/commit-steps.js';

/**
 * Records, in the writer's transaction, which profiles changed and by which event types, so the
 * segmentation worker re-decides their segments even if the process dies right after the commit.
 * Decided in SQL at commit time, so a segment created a moment ago is never missed, and with no
 * enabled segment nothing is queued. In profile order, so that two writers lock the pending rows they
 * share in the same order.
 */
async function queueForSegmentation(tx: SqlExecutor, profiles: CommittedChanges['profiles']): Promise<void> {
  if (profiles.length === 0) return;
  // Profiles changed by the same event types travel as one group: a heartbeat slice or a backfill
  // batch sends its ids once, not one record per profile.
  const groups = new Map<string, { types: string[]; ids: string[] }>();
  for (const { id, eventTypes } of profiles) {
    const key = JSON.stringify(eventTypes);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { types: eventTypes, ids: [] }));
    group.ids.push(id);
  }
  await tx.query(
    `INSERT INTO segmentation_pending (profile_id, event_types)
     SELECT profile_id, event_types
       FROM (SELECT unnest(g.ids) AS profile_id, g.types AS event_types
               FROM jsonb_to_recordset($1::text::jsonb) AS g(ids text[], types text[])) affected
      WHERE EXISTS (SELECT 1 FROM segments WHERE enabled)
      ORDER BY profile_id
     ON CONFLICT (profile_id) DO UPDATE
        SET event_types = ARRAY(SELECT DISTINCT unnest(segmentation_pending.event_types || EXCLUDED.event_types))`,
    [JSON.stringify([...groups.values()])],
  );
}

/** The commit step of post-event segmentation. */
export const queueForSegmentationStep: CommitStep<SqlExecutor> = {
  name: 'queue-segmentation',
  independent: true,
  run: (tx, changes) => queueForSegmentation(tx, changes.profiles),
};
