import {
  compileToSql,
  ConditionNotCompilableError,
  ConditionSyntaxError,
  DEFAULT_SQL_MAPPING,
  parseCondition,
} from '../condition/index.js';
import { DomainError } from '../shared/errors.js';

export interface Segment {
  id: string;
  name: string;
  machineName: string;
  description: string;
  condition: string;
  enabled: boolean;
  eventTypes: string[];
  lastRunAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Set when a run failed: the segment is left out of post-event segmentation until it is saved again. */
  failure: { message: string; at: string } | null;
  /** A save asked for its members to be re-decided and the work is not in the job queue yet. */
  resegmentPending: boolean;
  /** The number of the latest re-decision asked for; queuing the work settles the asks up to it. */
  resegmentRequest: number;
}

/**
 * A segment's condition cannot run: it no longer compiles, or its statement fails on the data.
 * Running it again fails again, so the segment is marked failed and the others go on.
 */
export class SegmentRunError extends Error {
  constructor(
    readonly segmentId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SegmentRunError';
  }
}

/** "Big spenders" → "big-spenders": the name profiles carry in `segments`, as Tracardi stores it. */
export function machineName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export const PROFILES_ONLY = { profile: DEFAULT_SQL_MAPPING.profile };

/**
 * A segment decides membership in SQL over the profiles table, so its condition must parse and
 * compile: profile@ fields only (there is no event or session when a whole population is segmented).
 */
export function checkSegmentCondition(condition: string): void {
  try {
    compileToSql(parseCondition(condition), { mapping: PROFILES_ONLY });
  } catch (error) {
    if (error instanceof ConditionSyntaxError) {
      throw new DomainError('invalid_condition', error.message, [{ field: 'condition', message: error.message }]);
    }
    if (error instanceof ConditionNotCompilableError) {
      throw new DomainError('invalid_condition', `a segment condition cannot run: ${error.message}`, [
        { field: 'condition', message: error.message },
      ]);
    }
    throw error;
  }
}

/** After tracking, a segment looks again at a profile only for the event types it names (any, if none). */
export function wantsRecheck(segment: Pick<Segment, 'eventTypes'>, trackedTypes: readonly string[]): boolean {
  return segment.eventTypes.length === 0 || segment.eventTypes.some((type) => trackedTypes.includes(type));
}
