import type { DueSession } from '../tracking/session-events.js';
import type { HeartbeatPlan } from './options.js';

/** Keyset position over sessions ordered by (last activity, id). */
export interface SessionCursor {
  lastActivity: string;
  id: string;
}

/** One of `of` disjoint shares of the profiles: all sessions of a profile are in the same share. */
export interface ProfileShare {
  index: number;
  of: number;
}

/** Finds, a page at a time, the sessions in a plan's range that are due for its event. */
export interface DueSessionFinder {
  /** Sessions whose last activity is in the plan's range, due or not: the run's scope. */
  countInRange(plan: HeartbeatPlan): Promise<number>;
  /** Up to `limit` due sessions of a share's profiles after `after`, in (last activity, id) order; fewer means the last page. */
  page(plan: HeartbeatPlan, share: ProfileShare, after: SessionCursor | null, limit: number): Promise<DueSession[]>;
}
