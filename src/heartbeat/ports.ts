import type { DueSession } from './session-events.js';
import type { HeartbeatPlan } from './options.js';

/** A position over sessions ordered by (last activity, id); `lastActivity` is exact ISO text (µs). */
export interface SessionCursor {
  lastActivity: string;
  id: string;
}

/**
 * One of `of` disjoint shares of the profile ids: all sessions with the same profile id are in the same
 * share (sessions still carrying the id of a profile merged into another go by that id).
 */
export interface ProfileShare {
  index: number;
  of: number;
}

/**
 * A run of consecutive due sessions of one share, from `first` to `last` inclusive in (last activity,
 * id) order, `size` of them when the run was planned. Sessions cannot become due after the plan was
 * made (activity only moves on), so the slices of a run cover every session it has to register.
 */
export interface DueSlice {
  share: ProfileShare;
  first: SessionCursor;
  last: SessionCursor;
  size: number;
}

/** Where the heartbeat finds due sessions and registers their events. */
export interface HeartbeatStore {
  /** Sessions whose last activity is in the plan's range, due or not: the run's scope. */
  countInRange(plan: HeartbeatPlan): Promise<number>;
  /** The plan's due sessions, each share's cut into slices of at most `size`, in order. */
  slices(plan: HeartbeatPlan, shares: number, size: number): Promise<DueSlice[]>;
  /** The sessions of a slice still due (what a dry run reports). */
  dueIn(plan: HeartbeatPlan, slice: DueSlice): Promise<DueSession[]>;
  /**
   * Registers the plan's event for each session of the slice still due, and applies its effect, in
   * one transaction. Returns how many events were newly stored: a session that another run registered
   * first, or whose activity moved on, gets none.
   */
  register(plan: HeartbeatPlan, slice: DueSlice, metadata: Record<string, unknown>, now: Date): Promise<number>;
}
