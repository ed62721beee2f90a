import { describe, expect, it } from 'vitest';
import { parseDateRange } from '../shared/date-math.js';
import { planHeartbeat, type HeartbeatSettings } from './options.js';

const NOW = new Date('2026-03-15T10:00:00Z');
const settings: HeartbeatSettings = {
  range: parseDateRange('now-1h|now'),
  skipSeconds: 900,
  eventType: 'session-inactive',
  openEventType: 'visit-started',
  closeEventType: 'visit-ended',
};

describe('planHeartbeat', () => {
  it('plans inactive-session: register EVENT_TYPE where none came since the last activity, and mark inactive', () => {
    expect(planHeartbeat('inactive-session', settings, NOW)).toEqual({
      qualifyBy: 'inactive-session',
      from: new Date('2026-03-15T09:00:00Z'),
      to: NOW,
      idleBefore: new Date('2026-03-15T09:45:00Z'),
      criteria: { kind: 'no-event-since-activity', eventType: 'session-inactive' },
      eventType: 'session-inactive',
      effect: 'mark-inactive',
    });
  });

  it('plans visit-end: register CLOSE_EVENT_TYPE for open visits, and end them', () => {
    expect(planHeartbeat('visit-end', settings, NOW)).toMatchObject({
      criteria: { kind: 'open-visit', openEventType: 'visit-started', closeEventType: 'visit-ended' },
      eventType: 'visit-ended',
      effect: 'end-visit',
    });
  });

  it('registers the configured event types as /track stores types, so they match the tracked ones', () => {
    const spelled = {
      ...settings,
      eventType: 'Session Inactive',
      openEventType: 'Visit Started',
      closeEventType: 'VISIT  Ended',
    };
    expect(planHeartbeat('inactive-session', spelled, NOW)).toMatchObject({
      criteria: { eventType: 'session-inactive' },
      eventType: 'session-inactive',
    });
    expect(planHeartbeat('visit-end', spelled, NOW)).toMatchObject({
      criteria: { openEventType: 'visit-started', closeEventType: 'visit-ended' },
      eventType: 'visit-ended',
    });
  });
});
