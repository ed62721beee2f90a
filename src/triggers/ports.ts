import type { SegmentChange, SegmentRule, TriggerDecision, TriggeredRun } from './trigger.js';

/** What one batch did: changes claimed, those handed out (consumed), runs recorded, changes skipped. */
export interface ConsumedBatch {
  claimed: number;
  consumed: number;
  runs: number;
  skipped: number;
}

/** The outbox's backlog, for operators: `GET /workers/trigger`. */
export interface TriggerBacklog {
  unconsumed: number;
  /** Seconds since the oldest unconsumed change was made; null when there is none. */
  oldestAgeSeconds: number | null;
  /** Runs segment changes started (recorded) over the last minute, replays included. */
  runsLastMinute: number;
  /** Changes consumed without starting anything, with why (their profile was deleted since). */
  skipped: number;
}

export interface TriggerStore {
  /**
   * One transaction: claims up to `limit` unconsumed changes in outbox order (skipping those another
   * worker holds), leaves a change for later while an earlier change of its profile is held elsewhere,
   * asks `decide` which runs the others start, records those runs pending and marks the changes
   * consumed. Either all of it commits or none: a change is consumed exactly when its runs exist.
   */
  consume(
    limit: number,
    decide: (changes: SegmentChange[], rules: SegmentRule[]) => TriggerDecision,
  ): Promise<ConsumedBatch>;
  backlog(): Promise<TriggerBacklog>;
  /** A rule by id: a segment rule in full, an event rule by its kind only. */
  findRule(id: string): Promise<SegmentRule | { id: string; kind: 'event' } | undefined>;
  /** Changes of one segment and kind made at or after `since`, after `afterSeq`, in outbox order. */
  changesSince(
    segmentId: string,
    change: SegmentChange['change'],
    since: Date,
    afterSeq: number,
    limit: number,
  ): Promise<SegmentChange[]>;
  /** Records runs pending; a (rule, change) already recorded is left as it is. Returns how many are new. */
  record(runs: readonly TriggeredRun[]): Promise<number>;
  /** Removes the consumed changes made before `date`; unconsumed ones stay whatever their age. Returns how many. */
  purgeConsumedBefore(date: Date): Promise<number>;
}
