import { createHash } from 'node:crypto';
import { DateMathError, parseDateMath, resolveDateMath } from '../shared/date-math.js';
import { DomainError } from '../shared/errors.js';

/**
 * Scheduled items: delayed events and flow resumes. PostgreSQL holds them (`scheduled`); this module is
 * the pure part: when an item is due, what happens after a failure, and the id of the event it tracks.
 */

export type ScheduledState = 'pending' | 'running' | 'done' | 'dead' | 'cancelled';
export const SCHEDULED_STATES: readonly ScheduledState[] = ['pending', 'running', 'done', 'dead', 'cancelled'];

/** The event source scheduled events are tracked under unless the item names another (migration 0020 creates it). */
export const SCHEDULER_SOURCE_ID = 'scheduler';

/** An event tracked for a profile when due, through the collect pipeline. */
export interface ScheduledEvent {
  kind: 'event';
  profileId: string;
  sessionId?: string;
  sourceId: string;
  event: { type: string; properties: Record<string, unknown> };
}

/** A paused workflow run to continue at `node`'s output `port` when due. */
export interface ScheduledResume {
  kind: 'resume';
  runId: string;
  node: string;
  port: string;
}

export type ScheduledWork = ScheduledEvent | ScheduledResume;

export interface NewScheduled {
  id: string;
  dueAt: Date;
  work: ScheduledWork;
}

export interface ScheduledItem {
  id: string;
  kind: ScheduledWork['kind'];
  dueAt: Date;
  state: ScheduledState;
  /** Claims so far, the running one included. */
  attempts: number;
  lastError: string | null;
  work: ScheduledWork;
  createdAt: Date;
  doneAt: Date | null;
}

const DAY_MS = 86_400_000;
/** `+N` and a date math unit: y, M (months), w, d, h (or H), m, s — as the flow actions' `delay`. */
const DELAY = /^\+\d{1,9}[yMwdhHms]$/;
/** Beyond this a due time is surely a mistake. */
const LONGEST_MS = 10 * 366 * DAY_MS;

/** `+15m`, `+2h`, `+1d`, `+1M` → the time that long after `now`; undefined when it is not one (or past any date). */
export function delayedFrom(delay: string, now: Date): Date | undefined {
  const text = delay.trim();
  if (!DELAY.test(text)) return undefined;
  try {
    return resolveDateMath(parseDateMath(`now${text}`), now);
  } catch (error) {
    if (error instanceof DateMathError) return undefined;
    throw error;
  }
}

/**
 * When an item is due: `at` (an ISO time; a past one is due at once) or `delay` from now, exactly one
 * of them. `field` prefixes the names in the error (`event.` for a flow action's config, say).
 */
export function dueAtOf(when: { at?: string; delay?: string }, now: Date, field = ''): Date {
  const problem = (name: string, message: string) =>
    new DomainError('validation_failed', `${field}${name}: ${message}`, [{ field: `${field}${name}`, message }]);
  if ((when.at === undefined) === (when.delay === undefined))
    throw problem(
      when.at === undefined ? 'at' : 'delay',
      'give exactly one of at (ISO time) or delay (+15m, +2h, +1d)',
    );
  let due: number;
  if (when.delay !== undefined) {
    const delayed = delayedFrom(when.delay, now);
    if (delayed === undefined)
      throw problem('delay', `expected +N followed by s, m, h, d, w, M or y (as +15m), got "${when.delay}"`);
    due = delayed.getTime();
  } else {
    due = Date.parse(when.at!);
    if (Number.isNaN(due) || !/^\d{4}-\d{2}-\d{2}/.test(when.at!))
      throw problem('at', `expected an ISO time (2026-01-31T09:00:00Z), got "${when.at}"`);
  }
  if (!Number.isFinite(due) || due - now.getTime() > LONGEST_MS)
    throw problem(when.delay !== undefined ? 'delay' : 'at', 'at most 10 years ahead');
  return new Date(due);
}

/** First wait after a failure; it doubles with every further failure, up to MAX_BACKOFF_MS. */
export const BASE_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 3_600_000;

export function backoffMs(failedAttempts: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, failedAttempts - 1));
}

/** After a failed attempt: due again after the backoff, or dead once `maxAttempts` are used up. */
export function afterFailure(
  attempts: number,
  maxAttempts: number,
  now: Date,
): { state: 'pending'; dueAt: Date } | { state: 'dead' } {
  if (attempts >= maxAttempts) return { state: 'dead' };
  return { state: 'pending', dueAt: new Date(now.getTime() + backoffMs(attempts)) };
}

/**
 * The id of the event a scheduled item tracks, derived from the item's id: a redo after a crash
 * sends the same id, and the events table stores an id once. Shaped as a UUID (version 8, RFC 9562).
 */
export function scheduledEventId(itemId: string): string {
  return stableId(`meridian:scheduled:${itemId}`);
}

/** A UUID (version 8, RFC 9562) that is a function of `text`: the same input, the same id. */
export function stableId(text: string): string {
  const bytes = createHash('sha256').update(text).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Events that one collect request can carry: the same profile, session (or none) and event source. */
export function requestKeyOf(work: ScheduledEvent): string {
  return `${work.profileId}\u0000${work.sessionId ?? ''}\u0000${work.sourceId}`;
}

/**
 * The collect payload of scheduled events sharing a request key, in the order given (their due
 * order): one request, each event's id derived from its item.
 */
export function collectPayload(items: readonly { id: string; work: ScheduledEvent }[]): Record<string, unknown> {
  const [first] = items;
  if (!first) throw new Error('a collect payload needs at least one scheduled event');
  const { work } = first;
  return {
    source: { id: work.sourceId },
    profile: { id: work.profileId },
    ...(work.sessionId === undefined ? {} : { session: { id: work.sessionId } }),
    events: items.map(({ id, work: { event } }) => ({
      id: scheduledEventId(id),
      type: event.type,
      properties: event.properties,
    })),
  };
}

/** How late an item started: 0 when on time. */
export function latenessMs(dueAt: Date, startedAt: Date): number {
  return Math.max(0, startedAt.getTime() - dueAt.getTime());
}
