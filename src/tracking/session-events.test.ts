import { describe, expect, it } from 'vitest';
import { sessionEventId, sessionEventRecord, UNKNOWN_SOURCE_ID } from './session-events.js';

const NOW = new Date('2026-01-01T10:00:00Z');
const LAST = '2026-01-01T09:00:00.123456Z';

describe('session events', () => {
  it('derives one UUID-shaped id per session, type and last activity', () => {
    const id = sessionEventId('s1', 'session-inactive', LAST);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sessionEventId('s1', 'session-inactive', LAST)).toBe(id);
    expect(sessionEventId('s2', 'session-inactive', LAST)).not.toBe(id);
    expect(sessionEventId('s1', 'visit-ended', LAST)).not.toBe(id);
    expect(sessionEventId('s1', 'session-inactive', '2026-01-01T09:00:00.123457Z')).not.toBe(id);
  });

  it('builds a system event on the session’s profile and source, at the time of registration', () => {
    const registration = { type: 'visit-ended', effect: 'end-visit' as const, sessions: [], metadata: { job: 'heartbeat' } };
    const record = sessionEventRecord({ id: 's1', profileId: 'p1', sourceId: null, lastActivity: LAST }, registration, NOW);
    expect(record).toMatchObject({
      type: 'visit-ended',
      profileId: 'p1',
      sessionId: 's1',
      sourceId: UNKNOWN_SOURCE_ID,
      occurredAt: NOW,
      insertedAt: NOW,
      metadata: { job: 'heartbeat', system: true, lastActivity: LAST },
    });
  });
});
