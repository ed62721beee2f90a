import { describe, expect, it } from 'vitest';
import { GroupCommitter } from './group-commit.js';

describe('GroupCommitter', () => {
  it('shares one flush among requests that arrive together and answers each with its own result', async () => {
    const flushes: number[][] = [];
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        flushes.push(items);
        return items.map((item) => item * 10);
      },
      { maxBatch: 100, maxWaitMs: 5, concurrency: 1 },
    );
    const results = await Promise.all([1, 2, 3].map((item) => committer.submit(item)));
    expect(results).toEqual([10, 20, 30]);
    expect(flushes).toEqual([[1, 2, 3]]);
  });

  it('gathers requests that arrive during a flush into the next one', async () => {
    const flushes: number[][] = [];
    let release!: () => void;
    const firstFlushBlocked = new Promise<void>((resolve) => (release = resolve));
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        flushes.push(items);
        if (flushes.length === 1) await firstFlushBlocked;
        return items;
      },
      { maxBatch: 100, maxWaitMs: 0, concurrency: 1 },
    );
    const first = committer.submit(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = [2, 3, 4].map((item) => committer.submit(item));
    release();
    await Promise.all([first, ...later]);
    expect(flushes).toEqual([[1], [2, 3, 4]]);
  });

  it('caps a flush at maxBatch', async () => {
    const sizes: number[] = [];
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        sizes.push(items.length);
        return items;
      },
      { maxBatch: 4, maxWaitMs: 1, concurrency: 2 },
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => committer.submit(i)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('isolates a failing item: its neighbours still commit, only it is rejected', async () => {
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        if (items.includes(13)) throw new Error('unlucky');
        return items;
      },
      { maxBatch: 100, maxWaitMs: 5, concurrency: 1 },
    );
    const outcomes = await Promise.allSettled([12, 13, 14].map((item) => committer.submit(item)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('drain waits for everything submitted', async () => {
    let done = 0;
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        done += items.length;
        return items;
      },
      { maxBatch: 2, maxWaitMs: 0, concurrency: 1 },
    );
    for (let i = 0; i < 5; i++) void committer.submit(i);
    await committer.drain();
    expect(done).toBe(5);
  });
});
