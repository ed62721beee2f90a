import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { derivedEventId, toTrackPayload } from './message.js';
import { checkBridgeConfig } from './source-config.js';

const message = (body: unknown, brokerId?: string) => ({
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  brokerId,
});
const track = checkBridgeConfig('rabbitmq', 'src', { url: 'amqp://x', queue: 'q' });

describe('toTrackPayload', () => {
  it('reads a /track body: this source when none is named, ids derived from the broker id', () => {
    const payload = toTrackPayload(message({ events: [{ type: 'a' }, { type: 'b', id: 'own' }] }, 'm1'), 'src', track);
    expect(payload).toEqual({
      source: { id: 'src' },
      events: [
        { type: 'a', id: derivedEventId('src', message('', 'm1'), 0) },
        { type: 'b', id: 'own' },
      ],
    });
    const again = toTrackPayload(message({ events: [{ type: 'a' }] }, 'm1'), 'src', track);
    expect(again).toMatchObject({ events: [{ id: (payload as { events: { id: string }[] }).events[0]!.id }] });
  });

  it('derives the same id from the same body when the broker gives no id, another from another body', () => {
    const id = (body: unknown) => derivedEventId('src', message(body), 0);
    expect(id({ a: 1 })).toBe(id({ a: 1 }));
    expect(id({ a: 1 })).not.toBe(id({ a: 2 }));
    expect(id({ a: 1 })).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('builds one event from a message of format event', () => {
    const config = checkBridgeConfig('mqtt', 'src', {
      url: 'mqtt://x',
      topic: 't',
      format: 'event',
      eventTypePath: 'kind',
      profileIdPath: 'user.id',
      sessionId: 'fixed',
      eventIdPath: 'id',
      propertiesPath: 'data',
    });
    expect(
      toTrackPayload(message({ kind: 'buy', id: 'e1', user: { id: 7 }, data: { sku: 'x' } }), 'src', config),
    ).toEqual({
      source: { id: 'src' },
      profile: { id: '7' },
      session: { id: 'fixed' },
      events: [{ id: 'e1', type: 'buy', properties: { sku: 'x' } }],
    });
  });

  it('refuses what is not JSON, or lacks what the format needs, naming it', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error instanceof DomainError ? `${error.code} ${error.details[0]!.field}` : String(error);
      }
      return 'accepted';
    };
    expect(refusal(() => toTrackPayload(message('{oops'), 'src', track))).toBe('validation_failed message');
    expect(refusal(() => toTrackPayload(message([1]), 'src', track))).toBe('validation_failed message');
    const config = checkBridgeConfig('mqtt', 'src', {
      url: 'mqtt://x',
      topic: 't',
      format: 'event',
      eventTypePath: 'k',
    });
    expect(refusal(() => toTrackPayload(message({}), 'src', config))).toBe('validation_failed message.k');
  });
});
