import type { RunHistory } from './ports.js';

const DAY_MS = 86_400_000;

/** Removes the runs that finished more than `retentionDays` (WORKFLOW_RUN_RETENTION_DAYS) before `now`. */
export function purgeExpiredRuns(
  history: Pick<RunHistory, 'purgeRunsBefore'>,
  retentionDays: number,
  now: Date,
): Promise<number> {
  return history.purgeRunsBefore(new Date(now.getTime() - retentionDays * DAY_MS));
}
