import { DomainError, notFound } from '../shared/errors.js';
import { timeOrderedId } from '../shared/ids.js';
import { findUnstorableField } from '../tracking/storable.js';
import { normalizeEventType } from '../tracking/payload.js';
import type { ScheduledStore } from './ports.js';
import { dueAtOf, SCHEDULER_SOURCE_ID, type ScheduledItem } from './schedule.js';

/** What operators do with scheduled items (the admin API's use cases). */
export interface SchedulerServices {
  scheduled: ScheduledStore;
  /** Wakes a scheduler worker when the items are due (best effort: the sweep runs them otherwise). */
  wake(items: readonly { dueAt: Date }[], now: Date): Promise<void>;
  /** Whether a profile has this id (or had it, merged into another). */
  profileExists(id: string): Promise<boolean>;
  clock?: () => Date;
}

export interface ScheduleEventInput {
  profileId: string;
  sessionId?: string;
  event: { type: string; properties?: Record<string, unknown> };
  at?: string;
  delay?: string;
}

const now = (services: SchedulerServices) => (services.clock ?? (() => new Date()))();

/** Stores an event to track for the profile when due (under the `scheduler` event source) and wakes a worker then. */
export async function scheduleEvent(services: SchedulerServices, input: ScheduleEventInput): Promise<ScheduledItem> {
  const at = now(services);
  const dueAt = dueAtOf(input, at);
  const type = normalizeEventType(input.event.type);
  if (type === '')
    throw new DomainError('validation_failed', 'event.type: must not be blank', [
      { field: 'event.type', message: 'must not be blank' },
    ]);
  const unstorable = findUnstorableField({ ...input }, ['profileId', 'sessionId', 'event']);
  if (unstorable)
    throw new DomainError('validation_failed', `${unstorable.field}: ${unstorable.message}`, [unstorable]);
  // Tracking would give an unknown id a new profile, as /track does: a scheduled event is for a known one.
  if (!(await services.profileExists(input.profileId)))
    throw new DomainError('validation_failed', `profileId: no profile "${input.profileId}"`, [
      { field: 'profileId', message: 'no such profile' },
    ]);
  const id = timeOrderedId(at);
  await services.scheduled.add([
    {
      id,
      dueAt,
      work: {
        kind: 'event',
        profileId: input.profileId,
        ...(input.sessionId === undefined ? {} : { sessionId: input.sessionId }),
        sourceId: SCHEDULER_SOURCE_ID,
        event: { type, properties: input.event.properties ?? {} },
      },
    },
  ]);
  await services.wake([{ dueAt }], at);
  return (await services.scheduled.get(id))!;
}

export async function getScheduled(services: SchedulerServices, id: string): Promise<ScheduledItem> {
  const item = await services.scheduled.get(id);
  if (!item) throw notFound(`scheduled item "${id}"`);
  return item;
}

const stateConflict = (item: ScheduledItem, action: string) =>
  new DomainError(
    'conflict',
    item.state === 'done'
      ? `scheduled item "${item.id}" already ran`
      : `scheduled item "${item.id}" is ${item.state}: it cannot be ${action}`,
    [{ field: 'state', message: `is ${item.state}` }],
  );

/** A dead item runs again now, with its attempts counted afresh. */
export async function retryScheduled(services: SchedulerServices, id: string): Promise<ScheduledItem> {
  const at = now(services);
  const { retried, item } = await services.scheduled.retry(id, at);
  if (!item) throw notFound(`scheduled item "${id}"`);
  if (!retried) throw stateConflict(item, 'retried (only a dead item can)');
  await services.wake([item], at);
  return item;
}

/**
 * Cancels a pending (or dead) item. Racing with a worker, it either wins, and the item never runs, or
 * loses and says the item is running or already ran.
 */
export async function cancelScheduled(services: SchedulerServices, id: string): Promise<ScheduledItem> {
  const { cancelled, item } = await services.scheduled.cancel(id, now(services));
  if (!item) throw notFound(`scheduled item "${id}"`);
  if (!cancelled) throw stateConflict(item, 'cancelled');
  return item;
}
