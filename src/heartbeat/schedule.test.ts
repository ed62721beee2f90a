import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { every } from './schedule.js';

describe('every', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once per interval, never overlapping, and goes on after a failure', async () => {
    const logger = pino({ level: 'silent' });
    const starts: number[] = [];
    let calls = 0;
    const schedule = every(
      1000,
      async () => {
        starts.push(Date.now());
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (calls === 1) throw new Error('store down');
      },
      logger,
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(calls).toBe(3);
    // Each run is timed from the end of the previous one.
    expect(starts.map((start, i) => start - (starts[i - 1] ?? start - 1000))).toEqual([1000, 1500, 1500]);
    const stopped = schedule.stop();
    await vi.advanceTimersByTimeAsync(5000);
    await stopped;
    expect(calls).toBe(3);
  });
});
