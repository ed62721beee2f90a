import { describe, expect, it } from 'vitest';
import { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS, resolveJobOptions, retryDelayMs } from './policy.js';

describe('job policy', () => {
  it('fills in the defaults', () => {
    const defaults = { delayMs: 0, attempts: DEFAULT_ATTEMPTS, backoffMs: DEFAULT_BACKOFF_MS };
    expect(resolveJobOptions()).toEqual(defaults);
    expect(resolveJobOptions({ jobId: 'x-1' }).jobId).toBe('x-1');
  });

  it('doubles the retry delay after each failed attempt', () => {
    expect([1, 2, 3, 4].map((failed) => retryDelayMs(100, failed))).toEqual([100, 200, 400, 800]);
    expect(retryDelayMs(0, 3)).toBe(0);
  });

  const invalid = [
    { delayMs: 1.5 },
    { attempts: 0 },
    { backoffMs: -1 },
    { jobId: '' },
    { jobId: '007' },
    { jobId: 'a:b' },
  ];
  it.each(invalid)('rejects %o', (opts) => {
    expect(() => resolveJobOptions(opts)).toThrow(RangeError);
  });
});
