import { describe, expect, it } from 'vitest';
import { Lanes } from './lanes.js';

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Lanes', () => {
  it('runs one key in the order given, even when an earlier piece of work is slower', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    await Promise.all([
      lanes.run('a', async () => {
        await later(20);
        order.push('a1');
      }),
      lanes.run('a', async () => {
        order.push('a2');
      }),
    ]);
    expect(order).toEqual(['a1', 'a2']);
  });

  it('runs different keys side by side', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    await Promise.all([
      lanes.run('a', async () => {
        await later(20);
        order.push('a');
      }),
      lanes.run('b', async () => {
        order.push('b');
      }),
    ]);
    expect(order).toEqual(['b', 'a']);
  });

  it('goes on with a key after a failure, which only its own caller sees', async () => {
    const lanes = new Lanes();
    const failed = lanes.run('a', () => Promise.reject(new Error('boom')));
    const next = lanes.run('a', async () => undefined);
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBeUndefined();
  });

  it('holds nothing once a key is idle', async () => {
    const lanes = new Lanes();
    await lanes.run('a', async () => undefined);
    await later(0);
    expect(lanes.busy).toBe(0);
  });
});
