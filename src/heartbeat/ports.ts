import type { DueSession } from '../tracking/session-events.js';
import type { HeartbeatPlan } from './options.js';

/** Keyset position over sessions ordered by (last activity, id). */
export interface SessionCursor {
  lastActivity: string;
  id: string;
}

export interface SessionPage {
  /** Sessions in range looked at in this page, due or not. */
  scanned: number;
  due: DueSession[];
  /** Where the next page starts; null after the last page. */
  next: SessionCursor | null;
}

/** Finds, a page at a time, the sessions in a plan's range that are due for its event. */
export interface DueSessionFinder {
  page(plan: HeartbeatPlan, after: SessionCursor | null, limit: number): Promise<SessionPage>;
}
