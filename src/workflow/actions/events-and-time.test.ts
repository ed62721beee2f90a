import { describe, expect, it } from 'vitest';
import { runAction } from '../../../test/support/flows.js';
import { MAX_RAISE_DEPTH } from './raise-event.js';

describe('event and time actions', () => {
  it('raise-event emits an event with templated properties, one level deeper', async () => {
    const { result } = await runAction(
      'raise-event',
      { type: 'order-noted', properties: { order: 'event@properties.id' } },
      {
        context: { event: { type: 'purchase', properties: { id: 'o1' }, metadata: { raiseDepth: 1 } } },
      },
    );
    expect(result.effects).toEqual([
      { kind: 'raise-event', type: 'order-noted', properties: { order: 'o1' }, depth: 2 },
    ]);
  });

  it('raise-event refuses beyond the loop guard’s depth', async () => {
    const { result } = await runAction(
      'raise-event',
      { type: 'again' },
      {
        context: { event: { type: 'again', properties: {}, metadata: { raiseDepth: MAX_RAISE_DEPTH } } },
      },
    );
    expect(result.status).toBe('failed');
    expect(result.error!.message).toMatch(/already raised by flows/);
    expect(result.effects).toEqual([]);
  });

  it('schedule-event hands the scheduler an absolute time from a delay or a given time', async () => {
    const delayed = await runAction('schedule-event', { type: 'reminder', delay: '+15m', properties: { n: 1 } });
    expect(delayed.result.effects).toEqual([
      { kind: 'schedule-event', type: 'reminder', properties: { n: 1 }, at: '2026-01-01T00:15:00.000Z' },
    ]);
    const fixed = await runAction(
      'schedule-event',
      { type: 'reminder', at: 'event@properties.when' },
      {
        context: { event: { type: 'x', properties: { when: '2026-03-01T10:00:00+01:00' } } },
      },
    );
    expect(fixed.result.effects).toEqual([
      { kind: 'schedule-event', type: 'reminder', properties: {}, at: '2026-03-01T09:00:00.000Z' },
    ]);
  });

  it('schedule-event fails on a time that is not one', async () => {
    const { result } = await runAction('schedule-event', { type: 'reminder', at: 'soon' });
    expect(result.error?.message).toMatch(/is not a time/);
  });

  it('pause saves where and when the run continues, and the run ends paused', async () => {
    const { result } = await runAction('pause', { delay: '+1d' });
    expect(result.status).toBe('paused');
    expect(result.pause).toMatchObject({ node: 'x', port: 'payload', at: '2026-01-02T00:00:00.000Z' });
    const waiting = await runAction('pause', { delay: '+2h', untilEventType: 'purchase' });
    expect(waiting.result.pause).toMatchObject({
      node: 'x',
      port: 'payload',
      at: '2026-01-01T02:00:00.000Z',
      untilEventType: 'purchase',
      timeoutPort: 'timeout',
    });
  });
});
