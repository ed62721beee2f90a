/**
 * Logical queue names are the reference (Tracardi) names, which use `:` — a character BullMQ
 * forbids in queue names. This module is the one place that maps between the two.
 */

export const SEGMENTATION_LIVE = 'segmentation:live';
/** The reference spells it "coping"; the name is kept verbatim so it stays the same queue. */
export const EVENT_TO_PROFILE_COPYING = 'event_to_profile_coping:worker';
export const EVENT_PROPS_TO_EVENT_TRAITS = 'event_props_to_event_traits:worker';
/** Wakes the workflow worker with runs to execute (the runs themselves are rows in PostgreSQL). */
export const WORKFLOW = 'workflow';

export const KNOWN_QUEUES = [SEGMENTATION_LIVE, EVENT_TO_PROFILE_COPYING, EVENT_PROPS_TO_EVENT_TRAITS] as const;
export type KnownQueue = (typeof KNOWN_QUEUES)[number];

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
