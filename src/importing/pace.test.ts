import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nextBatchAt, PACE_CHECK_MS, pacedBatchSize, waitUntil } from './pace.js';

describe('pacedBatchSize', () => {
  it('keeps the batch size without a rate', () => {
    expect(pacedBatchSize(2000, undefined)).toBe(2000);
  });

  it('holds a batch to one second of rows at the rate, and at least one row', () => {
    expect(pacedBatchSize(2000, 10)).toBe(10);
    expect(pacedBatchSize(2000, 2.5)).toBe(2);
    expect(pacedBatchSize(2000, 0.2)).toBe(1);
    expect(pacedBatchSize(100, 1500)).toBe(100);
  });
});

describe('nextBatchAt', () => {
  it('lets the next batch go once this one has had its rows’ share of a second', () => {
    expect(nextBatchAt(1_000, 10, 10)).toBe(2_000);
    expect(nextBatchAt(1_000, 5, 10)).toBe(1_500);
    expect(nextBatchAt(0, 1, 0.2)).toBe(5_000);
  });
});

describe('waitUntil', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('goes at once when the time is past, asking nothing', async () => {
    const running = vi.fn(async () => true);
    await expect(waitUntil(Date.now() - 1, running)).resolves.toBe(true);
    expect(running).not.toHaveBeenCalled();
  });

  it('waits a short wait out without asking, and a long one asking every interval while time is left', async () => {
    const running = vi.fn(async () => true);
    const short = waitUntil(Date.now() + PACE_CHECK_MS / 2, running);
    await vi.advanceTimersByTimeAsync(PACE_CHECK_MS / 2);
    await expect(short).resolves.toBe(true);
    expect(running).not.toHaveBeenCalled();

    const long = waitUntil(Date.now() + PACE_CHECK_MS * 2.5, running);
    await vi.advanceTimersByTimeAsync(PACE_CHECK_MS * 2.5);
    await expect(long).resolves.toBe(true);
    expect(running).toHaveBeenCalledTimes(2);
  });

  it('stops within an interval once the run no longer runs', async () => {
    let state = true;
    const waiting = waitUntil(Date.now() + PACE_CHECK_MS * 100, async () => state);
    let ended: boolean | undefined;
    void waiting.then((value) => (ended = value));
    await vi.advanceTimersByTimeAsync(PACE_CHECK_MS * 2);
    expect(ended).toBeUndefined();
    state = false;
    await vi.advanceTimersByTimeAsync(PACE_CHECK_MS);
    expect(ended).toBe(false);
  });
});
