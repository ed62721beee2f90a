import { describe, expect, it } from 'vitest';
import { checkPoint, pointValues, type IdentificationPoint } from './points.js';

const point = (overrides: Partial<IdentificationPoint> = {}): IdentificationPoint => ({
  id: 'p',
  name: 'login',
  eventType: 'login',
  sourceId: null,
  fields: [
    { event: 'properties.email', profile: 'pii.email' },
    { event: 'traits.crm', profile: 'data.identifier.id' },
  ],
  enabled: true,
  createdAt: '',
  updatedAt: '',
  ...overrides,
});

const event = { type: 'login', sourceId: 'web', properties: { email: 'a@x.io' }, traits: {}, context: {} };

describe('identification points', () => {
  it('copies the values the event has to the profile paths', () => {
    expect(pointValues([point()], event)).toEqual([['pii.email', 'a@x.io']]);
  });

  it('applies only to its event type, its source when it names one, and while enabled', () => {
    expect(pointValues([point({ eventType: 'purchase' })], event)).toEqual([]);
    expect(pointValues([point({ sourceId: 'app' })], event)).toEqual([]);
    expect(pointValues([point({ sourceId: 'web' })], event)).toHaveLength(1);
    expect(pointValues([point({ enabled: false })], event)).toEqual([]);
  });

  it('keeps the event type as /track stores types', () => {
    expect(checkPoint({ ...point(), eventType: ' Log In' }).eventType).toBe('log-in');
  });

  it('refuses paths outside what an event has or what a profile may be given', () => {
    expect(() => checkPoint({ ...point(), fields: [{ event: 'session.id', profile: 'stats.visits' }] })).toThrowError(
      expect.objectContaining({
        code: 'validation_failed',
        details: [
          expect.objectContaining({ field: 'fields/0/event' }),
          expect.objectContaining({ field: 'fields/0/profile' }),
        ],
      }),
    );
  });
});
