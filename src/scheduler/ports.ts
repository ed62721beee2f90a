import type { NewScheduled, ScheduledItem, ScheduledState } from './schedule.js';

export interface ScheduledFilter {
  state?: ScheduledState;
  profileId?: string;
  dueBefore?: Date;
  limit: number;
}

/** What a resume did to its run: continued, or nothing because the run is gone or no longer paused. */
export type ResumeOutcome = 'resumed' | 'not-paused';

/** Counts by state, how late the most overdue pending item is (0: none is), and the last hour's lateness. */
export interface ScheduledSummary {
  counts: Record<ScheduledState, number>;
  overdueMs: number;
  /** Items done in the last hour, and how long after their due time they were done (p99, max). */
  lastHour: { done: number; lateP99Ms: number; lateMaxMs: number };
}

export interface ScheduledStore {
  add(items: readonly NewScheduled[]): Promise<void>;
  /**
   * Claims up to `limit` items due at `now` — pending, or running under a claim that expired (its
   * worker died) — oldest due first, skipping rows another worker is claiming. Each claim counts as
   * an attempt and holds until `now + leaseMs`.
   */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<ScheduledItem[]>;
  /** Marks claimed events done where the claim still holds; returns their ids (the others were taken over). */
  complete(items: readonly ScheduledItem[], now: Date): Promise<Set<string>>;
  /**
   * A claimed resume: in one transaction, while the claim holds, hands the paused run back to the
   * workflow executor at the item's node and port and marks the item done. Undefined: claim lost.
   */
  resume(item: ScheduledItem, now: Date): Promise<ResumeOutcome | undefined>;
  /** Records a failed attempt, if the claim still holds: due again at `next.dueAt`, or dead. */
  fail(item: ScheduledItem, error: string, next: { state: 'pending'; dueAt: Date } | { state: 'dead' }): Promise<void>;
  /** The earliest due time of a pending item, for the next wake-up. */
  nextDue(): Promise<Date | undefined>;
  get(id: string): Promise<ScheduledItem | undefined>;
  list(filter: ScheduledFilter): Promise<ScheduledItem[]>;
  summary(now: Date): Promise<ScheduledSummary>;
  /** Removes up to `limit` done or cancelled items finished before `before`; returns how many. */
  purgeFinished(before: Date, limit: number): Promise<number>;
  /** A dead item due again at `now` with fresh attempts; the item as it was when it is not dead. */
  retry(id: string, now: Date): Promise<{ retried: boolean; item?: ScheduledItem }>;
  /** Cancels a pending or dead item; the item as it was when it cannot be (running, done, cancelled). */
  cancel(id: string, now: Date): Promise<{ cancelled: boolean; item?: ScheduledItem }>;
}
