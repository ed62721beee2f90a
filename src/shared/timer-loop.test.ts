import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runEvery } from './timer-loop.js';

/** A logger whose error lines are kept, to see what a failed run reports. */
function recordingLogger() {
  const errors: { msg: string; err?: { message: string } }[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => errors.push(JSON.parse(line)) });
  return { logger, errors };
}

describe('runEvery', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once per interval, never overlapping, and goes on after a failure it logs', async () => {
    const { logger, errors } = recordingLogger();
    const starts: number[] = [];
    let calls = 0;
    const loop = runEvery(
      1000,
      async () => {
        starts.push(Date.now());
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (calls === 1) throw new Error('store down');
      },
      logger,
      'sweep failed; will retry',
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(calls).toBe(3);
    // Each run is timed from the end of the previous one.
    expect(starts.map((start, i) => start - (starts[i - 1] ?? start - 1000))).toEqual([1000, 1500, 1500]);
    expect(errors).toMatchObject([{ msg: 'sweep failed; will retry', err: { message: 'store down' } }]);
    const stopped = loop.stop();
    await vi.advanceTimersByTimeAsync(5000);
    await stopped;
    expect(calls).toBe(3);
  });

  it('lets a run in progress finish when stopped, and starts no other', async () => {
    const { logger } = recordingLogger();
    let finished = 0;
    let calls = 0;
    const loop = runEvery(
      1000,
      async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 500));
        finished++;
      },
      logger,
      'run failed',
    );
    await vi.advanceTimersByTimeAsync(1200);
    expect([calls, finished]).toEqual([1, 0]);
    let stopDone = false;
    const stopped = loop.stop().then(() => (stopDone = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(stopDone).toBe(false);
    await vi.advanceTimersByTimeAsync(400);
    await stopped;
    expect([calls, finished, stopDone]).toEqual([1, 1, true]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(1);
  });

  it('never runs with an interval of 0', async () => {
    const { logger } = recordingLogger();
    let calls = 0;
    const loop = runEvery(
      0,
      async () => {
        calls++;
      },
      logger,
      'run failed',
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await loop.stop();
    expect(calls).toBe(0);
  });
});
