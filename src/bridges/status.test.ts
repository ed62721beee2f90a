import { describe, expect, it } from 'vitest';
import { formatStatus, rateOf, viewOf, type BridgeStatus } from './status.js';

const row: BridgeStatus = {
  processId: 'p1',
  host: 'worker-1',
  pid: 42,
  kind: 'rabbitmq',
  sourceId: 'orders',
  state: 'connected',
  received: 12,
  stored: 10,
  deadLettered: 2,
  retried: 0,
  rate: 2.5,
  lastError: null,
  lastErrorAt: null,
  startedAt: '2026-12-04T10:00:00.000Z',
  heartbeatAt: '2026-12-04T10:01:00.000Z',
};

describe('bridge status', () => {
  it('rates the messages settled (stored or dead-lettered) per second between two readings', () => {
    const before = { received: 10, stored: 8, deadLettered: 0, retried: 0 };
    expect(rateOf(before, { received: 40, stored: 30, deadLettered: 3, retried: 5 }, 5_000)).toBe(5);
    expect(rateOf(undefined, before, 5_000)).toBe(0);
  });

  it('shows a row whose process has been silent for three intervals as stale', () => {
    const heartbeat = Date.parse(row.heartbeatAt);
    expect(viewOf(row, new Date(heartbeat + 15_000), 5_000).stale).toBe(false);
    expect(viewOf(row, new Date(heartbeat + 15_001), 5_000).stale).toBe(true);
  });

  it('prints one line per bridge with its counters, a stale one and the last error said so', () => {
    const text = formatStatus([
      { ...row, stale: false },
      { ...row, pid: 7, state: 'connecting', stale: true, lastError: 'ECONNREFUSED', lastErrorAt: row.heartbeatAt },
    ]);
    const [header, first, second] = text.split('\n');
    expect(header).toMatch(/^KIND\s+SOURCE\s+PROCESS\s+STATE\s+RECEIVED\s+STORED\s+DEAD/);
    expect(first).toMatch(/^rabbitmq\s+orders\s+worker-1:42\s+connected\s+12\s+10\s+2\s+0\s+2\.5\s/);
    expect(second).toContain('connecting (stale)');
    expect(second).toMatch(/ECONNREFUSED$/);
    expect(formatStatus([])).toBe('no bridge is running');
  });
});
