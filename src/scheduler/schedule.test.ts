import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import {
  afterFailure,
  backoffMs,
  collectPayload,
  delayedFrom,
  dueAtOf,
  requestKeyOf,
  scheduledEventId,
} from './schedule.js';

const now = new Date('2026-12-04T10:00:00.000Z');

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error.details[0]?.field;
    throw error;
  }
  return undefined;
}

describe('delayedFrom', () => {
  it('reads +N with a date math unit', () => {
    expect(delayedFrom('+15m', now)?.toISOString()).toBe('2026-12-04T10:15:00.000Z');
    expect(delayedFrom('+2h', now)?.toISOString()).toBe('2026-12-04T12:00:00.000Z');
    expect(delayedFrom('+1d', now)?.toISOString()).toBe('2026-12-05T10:00:00.000Z');
    expect(delayedFrom('+30s', now)?.toISOString()).toBe('2026-12-04T10:00:30.000Z');
    expect(delayedFrom('+1M', now)?.toISOString()).toBe('2027-01-04T10:00:00.000Z');
  });

  it('refuses anything else', () => {
    for (const bad of ['15m', '+m', '+1x', '-1d', '+1.5h', '', '+ 1d', 'now+1d'])
      expect(delayedFrom(bad, now)).toBeUndefined();
  });
});

describe('dueAtOf', () => {
  it('adds a delay to now', () => {
    expect(dueAtOf({ delay: '+15m' }, now).toISOString()).toBe('2026-12-04T10:15:00.000Z');
  });

  it('takes an absolute time, a past one as it is (due at once)', () => {
    expect(dueAtOf({ at: '2026-12-05T08:00:00Z' }, now).toISOString()).toBe('2026-12-05T08:00:00.000Z');
    expect(dueAtOf({ at: '2020-01-01T00:00:00Z' }, now).getTime()).toBeLessThan(now.getTime());
  });

  it('names the field at fault, with the prefix asked for', () => {
    expect(fieldOf(() => dueAtOf({ delay: 'soon' }, now))).toBe('delay');
    expect(fieldOf(() => dueAtOf({ at: 'tomorrow' }, now, 'event.'))).toBe('event.at');
    expect(fieldOf(() => dueAtOf({}, now))).toBe('at');
    expect(fieldOf(() => dueAtOf({ at: '2026-12-05T08:00:00Z', delay: '+1d' }, now))).toBe('delay');
    expect(fieldOf(() => dueAtOf({ delay: '+999y' }, now))).toBe('delay');
    expect(fieldOf(() => dueAtOf({ delay: '+999999999y' }, now))).toBe('delay');
  });
});

describe('after a failure', () => {
  it('waits longer each time, up to a ceiling', () => {
    expect(backoffMs(1)).toBe(10_000);
    expect(backoffMs(2)).toBe(20_000);
    expect(backoffMs(3)).toBe(40_000);
    expect(backoffMs(30)).toBe(3_600_000);
  });

  it('is due again after the backoff until the attempts are used up, then dead', () => {
    expect(afterFailure(1, 3, now)).toEqual({ state: 'pending', dueAt: new Date(now.getTime() + 10_000) });
    expect(afterFailure(2, 3, now)).toEqual({ state: 'pending', dueAt: new Date(now.getTime() + 20_000) });
    expect(afterFailure(3, 3, now)).toEqual({ state: 'dead' });
  });
});

describe('the tracked event', () => {
  it('has an id derived from the item, the same on every redo and different per item', () => {
    const id = scheduledEventId('item-1');
    expect(id).toBe(scheduledEventId('item-1'));
    expect(id).not.toBe(scheduledEventId('item-2'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('is one event for the profile, under the item source, in the session when one is given', () => {
    const work = {
      kind: 'event' as const,
      profileId: 'p1',
      sessionId: 's1',
      sourceId: 'scheduler',
      event: { type: 'reminder', properties: { n: 1 } },
    };
    expect(collectPayload([{ id: 'item-1', work }])).toEqual({
      source: { id: 'scheduler' },
      profile: { id: 'p1' },
      session: { id: 's1' },
      events: [{ id: scheduledEventId('item-1'), type: 'reminder', properties: { n: 1 } }],
    });
    expect(collectPayload([{ id: 'item-1', work: { ...work, sessionId: undefined } }])).not.toHaveProperty('session');
  });

  it('carries several events of one profile, session and source in the order given', () => {
    const work = (n: number) => ({
      kind: 'event' as const,
      profileId: 'p1',
      sourceId: 'scheduler',
      event: { type: 'reminder', properties: { n } },
    });
    const payload = collectPayload([
      { id: 'item-2', work: work(2) },
      { id: 'item-1', work: work(1) },
    ]);
    expect(payload['events']).toEqual([
      { id: scheduledEventId('item-2'), type: 'reminder', properties: { n: 2 } },
      { id: scheduledEventId('item-1'), type: 'reminder', properties: { n: 1 } },
    ]);
    expect(requestKeyOf(work(1))).toBe(requestKeyOf(work(2)));
    expect(requestKeyOf({ ...work(1), sessionId: 's1' })).not.toBe(requestKeyOf(work(1)));
    expect(requestKeyOf({ ...work(1), sourceId: 'other' })).not.toBe(requestKeyOf(work(1)));
  });
});
