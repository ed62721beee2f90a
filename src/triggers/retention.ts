const DAY_MS = 86_400_000;

/**
 * The oldest time a replay reaches: the heartbeat removes the consumed changes made before it,
 * `retentionDays` (SEGMENT_CHANGES_RETENTION_DAYS) before `now`. None when they are kept forever (0).
 */
export function changesHorizon(retentionDays: number, now: Date): Date | undefined {
  return retentionDays === 0 ? undefined : new Date(now.getTime() - retentionDays * DAY_MS);
}
