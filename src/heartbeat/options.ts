import type { SessionEffect } from './session-events.js';
import { resolveDateRange, type DateRange } from '../shared/date-math.js';
import { normalizeEventType } from '../tracking/payload.js';

/** The reference's QUALIFY_BY values this job runs; profile-segmentation comes with segmentation. */
export const QUALIFIERS = ['inactive-session', 'visit-end'] as const;
export type QualifyBy = (typeof QUALIFIERS)[number];

/** The heartbeat variables of the reference job, typed (see config.ts); event types as configured. */
export interface HeartbeatSettings {
  range: DateRange;
  /** Allowed inactivity after the last registered event. */
  skipSeconds: number;
  /** inactive-session registers this. */
  eventType: string;
  /** visit-end closes visits opened by this … */
  openEventType: string;
  /** … by registering this. */
  closeEventType: string;
}

/** Which sessions are due, besides being in range and idle long enough. */
export type DueCriteria =
  | { kind: 'no-event-since-activity'; eventType: string }
  | { kind: 'open-visit'; openEventType: string; closeEventType: string };

/** One run, resolved against its clock. */
export interface HeartbeatPlan {
  qualifyBy: QualifyBy;
  /** Sessions whose last activity is in [from, to] are considered. */
  from: Date;
  to: Date;
  /** Sessions whose last activity is before this have been idle more than skipSeconds. */
  idleBefore: Date;
  criteria: DueCriteria;
  /** The event registered for each due session, and what it does to the session. */
  eventType: string;
  effect: SessionEffect;
}

/** Event types are stored as /track stores them, so `EVENT_TYPE="Session Inactive"` matches tracked ones. */
export function planHeartbeat(qualifyBy: QualifyBy, settings: HeartbeatSettings, now: Date): HeartbeatPlan {
  const { from, to } = resolveDateRange(settings.range, now);
  const eventType = normalizeEventType(settings.eventType);
  const openEventType = normalizeEventType(settings.openEventType);
  const closeEventType = normalizeEventType(settings.closeEventType);
  const common = { qualifyBy, from, to, idleBefore: new Date(now.getTime() - settings.skipSeconds * 1000) };
  if (qualifyBy === 'inactive-session') {
    return {
      ...common,
      criteria: { kind: 'no-event-since-activity', eventType },
      eventType,
      effect: 'mark-inactive',
    };
  }
  return {
    ...common,
    criteria: { kind: 'open-visit', openEventType, closeEventType },
    eventType: closeEventType,
    effect: 'end-visit',
  };
}
