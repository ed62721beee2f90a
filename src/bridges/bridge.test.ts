import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { Bridge, type Collector } from './bridge.js';
import { checkBridgeConfig } from './source-config.js';

const config = checkBridgeConfig('redis-streams', 'src', { url: 'redis://x', stream: 's', group: 'g' });
const idle = { start: async () => {}, stop: async () => {}, connected: true };
const message = { body: Buffer.from('{"events":[{"type":"a"}]}'), brokerId: 'm1' };

const bridgeOver = (collect: Collector['collect']) =>
  new Bridge('src', config, idle, { collect }, createLogger('silent'), 0);

describe('Bridge.handle', () => {
  it('acknowledges a stored message and passes it to the collect entry as this source’s', async () => {
    let seen: unknown;
    const bridge = bridgeOver(async (payload, origin) => {
      seen = { payload, origin };
      return { errors: [] };
    });
    expect(await bridge.handle(message)).toBe('ack');
    expect(seen).toMatchObject({ payload: { source: { id: 'src' } }, origin: { channel: 'bridge' } });
    expect(bridge.counters).toEqual({ received: 1, stored: 1, deadLettered: 0, retried: 0 });
  });

  it('dead-letters a refusal and a value PostgreSQL cannot store, with the reason', async () => {
    const refused = bridgeOver(() => Promise.reject(new DomainError('invalid_source', 'event source "x" is unknown')));
    expect(await refused.handle(message)).toEqual({ deadLetter: 'invalid_source: event source "x" is unknown' });
    const unstorable = bridgeOver(() =>
      Promise.reject(Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' })),
    );
    expect(await unstorable.handle(message)).toEqual({
      deadLetter: 'unstorable_value: unsupported Unicode escape sequence',
    });
    expect(unstorable.counters.deadLettered).toBe(1);
  });

  it('leaves a message whose commit failed to be delivered again', async () => {
    const down = bridgeOver(() =>
      Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })),
    );
    await expect(down.handle(message)).rejects.toThrow('connection refused');
    expect(down.counters).toEqual({ received: 1, stored: 0, deadLettered: 0, retried: 1 });
    expect(down.lastError?.message).toBe('connection refused');
  });
});

describe('Bridge.state', () => {
  it('is connecting until started (a failed start is the last error), then follows the connection', async () => {
    let refuse = true;
    const adapter = {
      connected: false,
      start: async () => {
        if (refuse) throw new Error('ECONNREFUSED 127.0.0.1:5672');
      },
      stop: async () => {},
    };
    const bridge = new Bridge(
      'src',
      config,
      adapter,
      { collect: async () => ({ errors: [] }) },
      createLogger('silent'),
    );
    await expect(bridge.start()).rejects.toThrow();
    expect(bridge.state).toBe('connecting');
    expect(bridge.lastError?.message).toBe('ECONNREFUSED 127.0.0.1:5672');
    refuse = false;
    await bridge.start();
    expect(bridge.state).toBe('disconnected');
    adapter.connected = true;
    expect(bridge.state).toBe('connected');
  });
});
