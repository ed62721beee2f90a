import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { checkBridgeConfig, maskConfig, readsFrom, unmaskConfig } from './source-config.js';

const fieldsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError && error.code === 'validation_failed') return error.details.map((d) => d.field);
    throw error;
  }
  throw new Error('not refused');
};

describe('checkBridgeConfig', () => {
  it('fills in the defaults, the dead-letter place included', () => {
    expect(checkBridgeConfig('rabbitmq', 's1', { url: 'amqp://localhost', queue: 'events' })).toMatchObject({
      type: 'rabbitmq',
      queue: 'events',
      deadLetter: 'events.dead',
      prefetch: 100,
      format: 'track',
    });
    expect(checkBridgeConfig('mqtt', 's1', { url: 'mqtt://localhost', topic: 'a/b' }).deadLetter).toBe('a/b/dead');
    expect(checkBridgeConfig('redis-streams', 's1', { url: 'redis://x', stream: 's', group: 'g' })).toMatchObject({
      deadLetter: 's:dead',
      claimIdleMs: 30_000,
    });
    expect(checkBridgeConfig('nats', 'src.1', { url: 'nats://x', subject: 'ev', stream: 'EV' })).toMatchObject({
      deadLetter: 'ev.dead',
      durable: 'meridian-src_1',
    });
  });

  it('names each offending field', () => {
    expect(fieldsOf(() => checkBridgeConfig('rabbitmq', 's', { url: 'mqtt://x', prefetch: 0, extra: 1 }))).toEqual([
      'config.extra',
      'config.url',
      'config.prefetch',
      'config.queue',
    ]);
    expect(fieldsOf(() => checkBridgeConfig('nats', 's', { url: 'nats://x', subject: 'ev.>' }))).toEqual([
      'config.deadLetter',
      'config.stream',
    ]);
    expect(fieldsOf(() => checkBridgeConfig('mqtt', 's', { url: 'mqtt://x', topic: 't', format: 'event' }))).toEqual([
      'config.eventType',
    ]);
    expect(
      fieldsOf(() =>
        checkBridgeConfig('mqtt', 's', { url: 'mqtt://x', topic: 't', eventType: 'a', eventTypePath: 'type' }),
      ),
    ).toEqual(['config.eventTypePath']);
    expect(fieldsOf(() => checkBridgeConfig('rabbitmq', 's', null))).toEqual(['config']);
    expect(
      fieldsOf(() => checkBridgeConfig('rabbitmq', 's', { url: 'amqp://x', queue: 'q', deadLetter: 'q' })),
    ).toEqual(['config.deadLetter']);
  });
});

describe('readsFrom', () => {
  it('matches MQTT topic filters and NATS subjects level by level, queues and streams by name', () => {
    expect(readsFrom('mqtt', 'events/#', 'events/dead')).toBe(true);
    expect(readsFrom('mqtt', 'events/+/in', 'events/a/in')).toBe(true);
    expect(readsFrom('mqtt', 'events/+', 'events/a/dead')).toBe(false);
    expect(readsFrom('nats', 'events.>', 'events.dead')).toBe(true);
    expect(readsFrom('nats', 'events.*', 'events.a.dead')).toBe(false);
    expect(readsFrom('nats', 'events', 'events.dead')).toBe(false);
    expect(readsFrom('rabbitmq', 'q', 'q')).toBe(true);
    expect(readsFrom('redis-streams', 's', 's:dead')).toBe(false);
  });

  it('refuses a dead-letter place the bridge would read back', () => {
    expect(
      fieldsOf(() => checkBridgeConfig('mqtt', 's', { url: 'mqtt://x', topic: 'ev/#', deadLetter: 'ev/dead' })),
    ).toEqual(['config.deadLetter']);
  });
});

describe('masking credentials', () => {
  it('hides the password and keeps it when the masked URL comes back unchanged', () => {
    const stored = { url: 'amqp://user:secret@broker:5672/vh', queue: 'q' };
    const shown = maskConfig(stored);
    expect(shown['url']).toBe('amqp://user:***@broker:5672/vh');
    expect(unmaskConfig({ ...shown, queue: 'other' }, stored)).toEqual({ ...stored, queue: 'other' });
    expect(unmaskConfig({ url: 'amqp://user:***@elsewhere/vh' }, stored)['url']).toBe('amqp://user:***@elsewhere/vh');
    expect(maskConfig({ url: 'redis://localhost:6379' })).toEqual({ url: 'redis://localhost:6379' });
  });
});
