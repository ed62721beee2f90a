/**
 * Capabilities declare logical queue names, the reference (Tracardi) names, which use `:`, a
 * character BullMQ forbids in queue names. This module is the one place that maps between the two.
 */

// Segments may not contain `.`, so replacing `:` with `.` is injective and can be undone.
const LOGICAL_NAME = /^[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)*$/;
const BULLMQ_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function assertLogicalQueueName(logical: string): void {
  if (!LOGICAL_NAME.test(logical)) {
    throw new Error(
      `invalid queue name "${logical}": expected segments of letters, digits, "_" or "-" separated by ":"`,
    );
  }
}

export function bullmqQueueName(logical: string): string {
  assertLogicalQueueName(logical);
  return logical.replaceAll(':', '.');
}

/** The inverse of bullmqQueueName, for reading queue names back from Redis. */
export function logicalQueueName(bullmq: string): string {
  if (!BULLMQ_NAME.test(bullmq)) throw new Error(`"${bullmq}" is not a queue name made by bullmqQueueName`);
  return bullmq.replaceAll('.', ':');
}
