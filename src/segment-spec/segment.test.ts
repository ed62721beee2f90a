import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { derivedSessionId, mapBatch, mapCall, MAX_CALL_BYTES } from './segment.js';

const now = new Date('2026-12-04T12:00:00Z');
const options = { sourceId: 'src', now };
const event = (payload: Record<string, unknown>) => (payload.events as Record<string, unknown>[])[0]!;
const fieldOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error.details[0]?.field;
    throw error;
  }
  return undefined;
};

describe('mapCall', () => {
  it('maps track to an event of the normalised type, with messageId as its id and userId as the profile', () => {
    const { payload, profileMappings } = mapCall(
      {
        userId: 'u1',
        event: 'Order Completed',
        messageId: 'm-1',
        properties: { total: 3 },
        timestamp: '2026-12-04T11:00:00Z',
      },
      { ...options, type: 'track' },
    );
    expect(payload.source).toEqual({ id: 'src' });
    expect(payload.profile).toEqual({ id: 'u1' });
    expect(event(payload)).toMatchObject({
      type: 'order-completed',
      id: 'm-1',
      properties: { total: 3 },
      time: '2026-12-04T11:00:00Z',
    });
    expect(profileMappings).toEqual([]);
  });

  it('uses anonymousId when there is no userId, and refuses a call with neither', () => {
    expect(mapCall({ anonymousId: 'a1', event: 'x' }, { ...options, type: 'track' }).payload.profile).toEqual({
      id: 'a1',
    });
    expect(fieldOf(() => mapCall({ event: 'x' }, { ...options, type: 'track' }))).toBe('userId');
    expect(fieldOf(() => mapCall({ userId: 'u' }, { ...options, type: 'track' }))).toBe('event');
  });

  it('maps page and screen to page-view and screen-view with the name among the properties', () => {
    const page = mapCall({ userId: 'u', name: 'Home', properties: { url: '/x' } }, { ...options, type: 'page' });
    expect(event(page.payload)).toMatchObject({ type: 'page-view', properties: { name: 'Home', url: '/x' } });
    const screen = mapCall({ userId: 'u', name: 'Cart' }, { ...options, type: 'screen' });
    expect(event(screen.payload)).toMatchObject({ type: 'screen-view', properties: { name: 'Cart' } });
  });

  it('copies identify traits onto the profile, and the email to pii.email where identity reads it', () => {
    const { payload, profileMappings } = mapCall(
      { userId: 'u', traits: { email: 'A@x.io', plan: 'pro', 'odd key': 1 } },
      { ...options, type: 'identify' },
    );
    expect(event(payload)).toMatchObject({ type: 'identify', properties: { traits: { email: 'A@x.io' } } });
    expect(profileMappings).toHaveLength(1);
    expect(profileMappings[0]).toMatchObject({ kind: 'event-to-profile', eventType: 'identify', condition: null });
    expect(profileMappings[0]!.mapping).toEqual([
      { event: 'properties.traits.email', profile: 'traits.email', op: 'equals' },
      { event: 'properties.traits.plan', profile: 'traits.plan', op: 'equals' },
      { event: 'properties.traits.email', profile: 'pii.email', op: 'equals' },
    ]);
  });

  it('appends a group to the profile and asks for an alias merge', () => {
    const group = mapCall({ userId: 'u', groupId: 'g1', traits: { name: 'Acme' } }, { ...options, type: 'group' });
    expect(event(group.payload)).toMatchObject({ type: 'group', properties: { groupId: 'g1' } });
    expect(group.profileMappings[0]!.mapping).toEqual([
      { event: 'properties.groupId', profile: 'traits.groups', op: 'append' },
    ]);
    const alias = mapCall({ userId: 'u', previousId: 'a' }, { ...options, type: 'alias' });
    expect(alias.merge).toEqual({ previousId: 'a', userId: 'u' });
    expect(fieldOf(() => mapCall({ anonymousId: 'a', previousId: 'b' }, { ...options, type: 'alias' }))).toBe('userId');
  });

  it('gives calls without a session one per person and 30-minute window', () => {
    const at = (time: string) =>
      mapCall({ userId: 'u', event: 'x', timestamp: time }, { ...options, type: 'track' }).payload.session;
    expect(at('2026-12-04T11:00:00Z')).toEqual(at('2026-12-04T11:29:59Z'));
    expect(at('2026-12-04T11:00:00Z')).not.toEqual(at('2026-12-04T11:30:00Z'));
    expect(derivedSessionId('u', now)).not.toBe(derivedSessionId('v', now));
  });
});

describe('mapBatch', () => {
  it('maps each call by its own type, under the batch context, naming a bad field by index', () => {
    const calls = mapBatch(
      {
        context: { library: { name: 'x' } },
        batch: [
          { type: 'track', userId: 'u', event: 'A' },
          { type: 'page', anonymousId: 'a' },
        ],
      },
      options,
    );
    expect(calls.map((call) => event(call.payload).type)).toEqual(['a', 'page-view']);
    expect(calls[0]!.payload.context).toEqual({ library: { name: 'x' } });
    expect(fieldOf(() => mapBatch({ batch: [{ type: 'track', userId: 'u' }, { type: 'nope' }] }, options))).toBe(
      'batch.0.event',
    );
    expect(fieldOf(() => mapBatch({ batch: [{ type: 'nope', userId: 'u' }] }, options))).toBe('batch.0.type');
    expect(fieldOf(() => mapBatch({ batch: [] }, options))).toBe('batch');
  });

  it('refuses a call of the batch over 32 KB', () => {
    const big = { type: 'track', userId: 'u', event: 'x', properties: { text: 'x'.repeat(MAX_CALL_BYTES) } };
    expect(fieldOf(() => mapBatch({ batch: [big] }, options))).toBe('batch.0');
  });
});
