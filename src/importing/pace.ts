/**
 * The throttle of `options.rowsPerSecond`: a batch holds at most about a second of rows, and waits
 * before it is stored until the batch before it has had its share of time, so rows are stored at the
 * rate rather than in bursts of a whole batch, and each batch is recorded as soon as it is stored.
 */

/** The rows a batch reads: one second's at the rate (one at least), within the import's batch size. */
export function pacedBatchSize(batchSize: number, rowsPerSecond: number | undefined): number {
  if (rowsPerSecond === undefined) return batchSize;
  return Math.min(batchSize, Math.max(1, Math.floor(rowsPerSecond)));
}

/**
 * When the next batch may be stored, given when this one began being stored and its rows. Counted from
 * when it began, not from when it was due: time lost to a slow store is not made up by a burst after.
 */
export function nextBatchAt(startedAt: number, rows: number, rowsPerSecond: number): number {
  return startedAt + (rows / rowsPerSecond) * 1000;
}

/** How long a run waiting for its throttle goes without asking whether it was paused or cancelled. */
export const PACE_CHECK_MS = 1000;

/**
 * Waits until `due`, asking every PACE_CHECK_MS while time is left whether the run still runs, so a
 * pause or cancel does not wait out a slow throttle; false when it no longer runs.
 */
export async function waitUntil(due: number, running: () => Promise<boolean>): Promise<boolean> {
  for (let left = due - Date.now(); left > 0; left = due - Date.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, PACE_CHECK_MS)));
    if (due > Date.now() && !(await running())) return false;
  }
  return true;
}
