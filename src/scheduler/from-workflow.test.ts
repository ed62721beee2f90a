import { describe, expect, it } from 'vitest';
import type { RunEffect } from '../workflow/model.js';
import { scheduledFromRun } from './from-workflow.js';

const run = { id: 'run-1', profileId: 'p1', sessionId: 's1', sourceId: 'web' };
const effects: RunEffect[] = [
  { kind: 'log', level: 'info', message: 'hi' },
  { kind: 'schedule-event', type: 'reminder', properties: { n: 1 }, at: '2026-12-05T10:00:00.000Z' },
  { kind: 'schedule-event', type: 'reminder', properties: { n: 2 }, at: '2026-12-06T10:00:00.000Z' },
];

describe('what a workflow run schedules', () => {
  it('an event per schedule-event effect, for the run profile, session and source', () => {
    const items = scheduledFromRun(run, effects);
    expect(items.map((item) => [item.dueAt.toISOString(), item.work])).toEqual([
      [
        '2026-12-05T10:00:00.000Z',
        {
          kind: 'event',
          profileId: 'p1',
          sessionId: 's1',
          sourceId: 'web',
          event: { type: 'reminder', properties: { n: 1 } },
        },
      ],
      [
        '2026-12-06T10:00:00.000Z',
        {
          kind: 'event',
          profileId: 'p1',
          sessionId: 's1',
          sourceId: 'web',
          event: { type: 'reminder', properties: { n: 2 } },
        },
      ],
    ]);
  });

  it('ids that repeat for the same run, so a commit run again stores nothing twice', () => {
    const ids = scheduledFromRun(run, effects).map((item) => item.id);
    expect(new Set(ids).size).toBe(2);
    expect(scheduledFromRun(run, effects).map((item) => item.id)).toEqual(ids);
    expect(scheduledFromRun({ ...run, id: 'run-2' }, effects).map((item) => item.id)).not.toEqual(ids);
  });

  it('no event for a run without a profile; the scheduler source for a run without one', () => {
    expect(scheduledFromRun({ ...run, profileId: null }, effects)).toEqual([]);
    expect(scheduledFromRun({ ...run, sourceId: null, sessionId: null }, effects)[0]?.work).toMatchObject({
      sourceId: 'scheduler',
    });
  });

  it('a resume at the pause node port, or at its timeout port when it also waits for an event', () => {
    const at = '2026-12-05T10:00:00.000Z';
    expect(scheduledFromRun(run, [], { node: 'wait', port: 'payload', input: {}, at })[0]).toMatchObject({
      dueAt: new Date(at),
      work: { kind: 'resume', runId: 'run-1', node: 'wait', port: 'payload' },
    });
    const waiting = {
      node: 'wait',
      port: 'payload',
      input: {},
      at,
      untilEventType: 'purchase',
      timeoutPort: 'timeout',
    };
    expect(scheduledFromRun(run, [], waiting)[0]?.work).toMatchObject({ port: 'timeout' });
  });
});
