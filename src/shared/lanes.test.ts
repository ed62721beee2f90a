import { describe, expect, it } from 'vitest';
import { Lanes } from './lanes.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Lanes', () => {
  it('runs no more than its width at once and finishes every task', async () => {
    const lanes = new Lanes(2);
    let running = 0;
    let most = 0;
    const done: number[] = [];
    for (let i = 0; i < 7; i++) {
      await lanes.add(async () => {
        running++;
        most = Math.max(most, running);
        for (let wait = 0; wait < 1 + (i % 3); wait++) await tick();
        running--;
        done.push(i);
      });
    }
    await lanes.drain();
    expect(most).toBe(2);
    expect(done.sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('lets running tasks finish after a failure, then throws it', async () => {
    const lanes = new Lanes(2);
    let finished = false;
    await lanes.add(async () => {
      await tick();
      await tick();
      finished = true;
    });
    await lanes.add(async () => {
      throw new Error('batch failed');
    });
    await expect(lanes.drain()).rejects.toThrow('batch failed');
    expect(finished).toBe(true);
    await expect(lanes.add(async () => {})).rejects.toThrow('batch failed');
  });

  it('refuses a width that is not a positive whole number', () => {
    expect(() => new Lanes(0)).toThrow(/positive whole number/);
  });
});
