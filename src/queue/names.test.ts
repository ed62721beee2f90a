import { describe, expect, it } from 'vitest';
import { bullmqQueueName, logicalQueueName } from './names.js';

describe('queue names', () => {
  // The registered workers' own names are checked the same way in cli/workers.test.ts.
  it('maps reference names to BullMQ-safe names and back', () => {
    for (const logical of ['segmentation:live', 'event_to_profile_coping:worker', 'a:b:c']) {
      const safe = bullmqQueueName(logical);
      expect(safe).not.toContain(':');
      expect(logicalQueueName(safe)).toBe(logical);
    }
    expect(bullmqQueueName('segmentation:live')).toBe('segmentation.live');
  });

  it('keeps distinct logical names distinct', () => {
    const names = ['a:b', 'a_b', 'a-b', 'ab', 'a:b:c', 'a:b-c'];
    expect(new Set(names.map(bullmqQueueName)).size).toBe(names.length);
  });

  it.each(['', 'a.b', 'a::b', ':a', 'a:', 'a b', 'a/b', 'profile@traits'])('rejects "%s"', (bad) => {
    expect(() => bullmqQueueName(bad)).toThrow(/invalid queue name/);
  });

  it('rejects names bullmqQueueName cannot have produced', () => {
    expect(() => logicalQueueName('a:b')).toThrow();
    expect(() => logicalQueueName('a..b')).toThrow();
  });
});
