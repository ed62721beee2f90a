import { describe, expect, it } from 'vitest';
import { checkEnvelope, checkEvent, parseEventTime, requestSettings, type TrackPayload } from './payload.js';
import { DomainError } from '../shared/errors.js';

const NOW = new Date('2026-12-04T18:00:00Z');
const occurred = (time: unknown) => {
  const checked = checkEvent({ type: 'page-view', time }, 0, NOW);
  if ('field' in checked) throw new Error(`${checked.field}: ${checked.message}`);
  return checked.time.toISOString();
};
const problem = (event: unknown) => {
  const checked = checkEvent(event, 2, NOW);
  if (!('field' in checked)) throw new Error('the event was accepted');
  return checked;
};

describe('event time', () => {
  it("takes Tracardi's time.create as when the event occurred", () => {
    expect(occurred({ create: '2026-12-04T17:55:50.993Z' })).toBe('2026-12-04T17:55:50.993Z');
    expect(occurred({ create: '2026-12-04T17:55:50.993Z', insert: '2026-12-04T17:59:00Z' })).toBe(
      '2026-12-04T17:55:50.993Z',
    );
  });

  it('falls back to time.insert, then to the time of arrival', () => {
    expect(occurred({ insert: '2026-01-02T03:04:05Z' })).toBe('2026-01-02T03:04:05.000Z');
    expect(occurred({ create: null, insert: '2026-01-02T03:04:05Z' })).toBe('2026-01-02T03:04:05.000Z');
    expect(occurred({})).toBe(NOW.toISOString());
    expect(occurred(null)).toBe(NOW.toISOString());
    expect(occurred(undefined)).toBe(NOW.toISOString());
  });

  it('reads a bare date-time or epoch number, seconds or milliseconds as Tracardi does', () => {
    expect(occurred('2026-01-01T00:00:00+02:00')).toBe('2025-12-31T22:00:00.000Z');
    expect(occurred(1_780_000_000_000)).toBe(new Date(1_780_000_000_000).toISOString());
    expect(occurred(1_780_000_000)).toBe(new Date(1_780_000_000_000).toISOString());
    expect(occurred({ create: 1_780_000_000.5 })).toBe(new Date(1_780_000_000_500).toISOString());
    expect(occurred({ create: '1780000000' })).toBe(new Date(1_780_000_000_000).toISOString());
    expect(occurred('1780000000123')).toBe(new Date(1_780_000_000_123).toISOString());
  });

  it("reads a date-time without a zone as UTC, whatever the server's zone", () => {
    expect(occurred('2026-12-04T17:55:50.993')).toBe('2026-12-04T17:55:50.993Z');
    expect(occurred({ create: '2026-12-04 17:55' })).toBe('2026-12-04T17:55:00.000Z');
    expect(parseEventTime('2026-12-04', NOW)?.toISOString()).toBe('2026-12-04T00:00:00.000Z');
    expect(parseEventTime('2026-12-04T17:55:50.123456789Z', NOW)?.toISOString()).toBe('2026-12-04T17:55:50.123Z');
  });

  it('names the time field that is no date, and what is expected', () => {
    expect(problem({ type: 'a', time: { create: 'yesterday' } })).toEqual({
      index: 2,
      field: 'events.2.time.create',
      message:
        'expected an ISO-8601 date-time, epoch milliseconds or seconds, in the years 1000 to 9999 as text, 1 to 9999 as epoch time',
    });
    expect(problem({ type: 'a', time: { insert: '2026-13-45' } })).toMatchObject({ field: 'events.2.time.insert' });
    expect(problem({ type: 'a', time: 'soon' })).toMatchObject({ field: 'events.2.time' });
    // JavaScript's Date reads these as dates; they are not ISO 8601.
    expect(problem({ type: 'a', time: 'hello 5' })).toMatchObject({ field: 'events.2.time' });
    expect(problem({ type: 'a', time: 'Dec 4, 2026' })).toMatchObject({ field: 'events.2.time' });
    expect(problem({ type: 'a', time: 253402300800000 })).toMatchObject({
      field: 'events.2.time',
      message: expect.stringContaining('9999'),
    });
  });

  it('says what time accepts instead of "Expected union value"', () => {
    expect(problem({ type: 'a', time: true })).toEqual({
      index: 2,
      field: 'events.2.time',
      message: 'expected an ISO-8601 date-time, epoch milliseconds or seconds, or {create, insert}',
    });
    expect(problem({ type: 'a', time: { create: ['2026'] } })).toEqual({
      index: 2,
      field: 'events.2.time.create',
      message: 'expected an ISO-8601 date-time, epoch milliseconds or seconds, or null',
    });
  });
});

describe('the rest of a Tracardi event', () => {
  it('accepts what Tracardi 0.9 accepts: options, a per-event context, tags, null for any of them', () => {
    const event = {
      type: 'page-view',
      time: { create: '2026-12-04T17:55:50.997Z' },
      properties: { 'custom-data': '123ABCDFFG' },
      options: { debugger: true },
      context: { page: { url: 'http://shop.example.test/', referer: { host: null } }, performance: { duration: 0 } },
      tags: ['a', 'b'],
      user: { id: 'u-1' },
    };
    expect(checkEvent(event, 0, NOW)).toMatchObject({ event });
    expect(
      checkEvent({ type: 'a', properties: null, options: null, context: null, tags: null }, 0, NOW),
    ).toHaveProperty('event');
  });

  it('names the nested field of a wrong value, never "Expected union value"', () => {
    expect(problem({ type: 'a', options: 'fire' })).toEqual({
      index: 2,
      field: 'events.2.options',
      message: 'expected an object or null',
    });
    expect(problem({ type: 'a', tags: [1] })).toMatchObject({ field: 'events.2.tags.0', message: 'Expected string' });
    expect(problem({ type: 'a', context: [] })).toMatchObject({
      field: 'events.2.context',
      message: 'expected an object or null',
    });
  });
});

describe('requestSettings', () => {
  const payload = (extra: Record<string, unknown>) =>
    ({ source: { id: 's' }, events: [{ type: 'a' }], ...extra }) as TrackPayload;

  it('saves everything unless a flag says false', () => {
    expect(requestSettings(payload({}))).toEqual({
      save: { session: true, events: true, profile: true },
      deviceId: undefined,
      warnings: [],
    });
    expect(requestSettings(payload({ options: { saveEvents: false, saveProfile: true } })).save).toEqual({
      session: true,
      events: false,
      profile: true,
    });
  });

  it('ignores a flag that is not true or false, as Tracardi does, and says so', () => {
    const settings = requestSettings(payload({ options: { saveSession: 'no' } }));
    expect(settings.save.session).toBe(true);
    expect(settings.warnings).toEqual(['options.saveSession ignored: expected true or false']);
  });

  it("keeps the tracker's device id, and ignores one that is not an id", () => {
    expect(requestSettings(payload({ device: { id: '441c678e-4d47-438f-a131-6b908863a047' } })).deviceId).toBe(
      '441c678e-4d47-438f-a131-6b908863a047',
    );
    for (const device of [{ id: 42 }, { id: '' }, { id: 'a\u0000b' }]) {
      const settings = requestSettings(payload({ device }));
      expect(settings.deviceId).toBeUndefined();
      expect(settings.warnings).toEqual(['device.id ignored: expected a string of 1 to 128 characters without NUL']);
    }
    expect(requestSettings(payload({ device: null })).warnings).toEqual([]);
  });

  it('warns that profile_less events are stored with a profile', () => {
    expect(requestSettings(payload({ profile_less: true })).warnings.join()).toContain('profile_less');
    expect(requestSettings(payload({ profile_less: false, debug: true, metadata: 'x', request: 1 })).warnings).toEqual(
      [],
    );
  });
});

describe('checkEnvelope', () => {
  it('passes a /track body through unchanged', () => {
    const body = { source: { id: 'web' }, events: [{ type: 'page-view' }] };
    expect(checkEnvelope(body)).toBe(body);
  });

  it('refuses a body that is not a /track payload, naming each field and what it expects', () => {
    try {
      checkEnvelope({ source: {}, events: [] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      const { code, details } = error as DomainError;
      expect(code).toBe('validation_failed');
      expect(details.map((problem) => problem.field).sort()).toEqual(['events', 'source.id']);
    }
  });

  it('refuses what is not an object at all', () => {
    expect(() => checkEnvelope('hello')).toThrow(DomainError);
  });
});
