/** PostgreSQL's answers to a value it cannot store (the sender's data, not an outage): SQLSTATEs. */
const UNSTORABLE_VALUE = new Set(['22P05', '22021', '22008', '22007', '22003', '54000']);

/** Whether a failed write was refused for a value it held: sending it again would fail again. */
export function isUnstorableValue(error: unknown): error is Error & { code: string } {
  const sqlState = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof sqlState === 'string' && UNSTORABLE_VALUE.has(sqlState);
}
