import { describe, expect, it } from 'vitest';
import { lanesWithin } from './job.js';

describe('lanesWithin', () => {
  it('keeps HEARTBEAT_LANES while the pool has a connection for each lane beside those reserved', () => {
    expect(lanesWithin(2, 10, 1)).toBe(2);
    expect(lanesWithin(9, 10, 1)).toBe(9);
  });

  it('runs fewer lanes than asked when the pool is short, and always at least one', () => {
    expect(lanesWithin(16, 10, 1)).toBe(9);
    expect(lanesWithin(8, 10, 5)).toBe(5);
    expect(lanesWithin(4, 4, 5)).toBe(1);
  });
});
