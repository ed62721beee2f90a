import { describe, expect, it } from 'vitest';
import { RowRejected } from './rows.js';
import { tracardiEvent, tracardiProfile, tracardiSession } from './tracardi.js';

describe('Tracardi documents', () => {
  it('a profile keeps its id, the ids merged into it (not its own), its visit times and its 0.8 or 0.9 PII', () => {
    const profile = tracardiProfile({
      _id: 'p1',
      _source: {
        ids: ['p1', 'm1', 'm1'],
        metadata: { time: { insert: '2022-01-01T00:00:00.123456', visit: { count: 3, last: '2022-01-02T00:00:00Z' } } },
        data: { pii: { firstname: 'Ada' } },
        active: false,
      },
    });
    expect(profile).toMatchObject({
      id: 'p1',
      ids: ['m1'],
      pii: { firstname: 'Ada' },
      visits: 3,
      active: false,
      createdAt: '2022-01-01T00:00:00.123Z',
      updatedAt: '2022-01-01T00:00:00.123Z',
      lastVisitAt: '2022-01-02T00:00:00.000Z',
      currentVisitAt: null,
    });
    expect(
      tracardiProfile({ id: 'p2', pii: { name: 'Bob' }, metadata: { time: { insert: 1651000000 } } }),
    ).toMatchObject({
      pii: { name: 'Bob' },
      createdAt: '2022-04-26T19:06:40.000Z',
    });
  });

  it('a session keeps its UTM parameters where /track keeps them, in its context', () => {
    const session = (fields: Record<string, unknown>) =>
      tracardiSession({ id: 's', profile: { id: 'p' }, metadata: { time: { insert: '2022-01-01' } }, ...fields });
    expect(
      session({
        utm: { source: 'google', medium: 'cpc', campaign: null, term: null, content: null },
        context: { a: 1 },
      }).context,
    ).toEqual({ a: 1, utm: { source: 'google', medium: 'cpc' } });
    // Tracardi's default: every parameter null.
    expect(session({ utm: { source: null, medium: null }, context: { a: 1 } }).context).toEqual({ a: 1 });
    expect(session({ utm: { source: 'x' }, context: { utm: { source: 'y' } } }).context).toEqual({
      utm: { source: 'y' },
    });
  });

  it('a session lasts its duration from its insert time', () => {
    expect(
      tracardiSession({
        id: 's',
        profile: { id: 'p' },
        metadata: { time: { insert: '2022-01-01T00:00:00Z', duration: 61 } },
      }),
    ).toMatchObject({
      id: 's',
      profileId: 'p',
      createdAt: '2022-01-01T00:00:00.000Z',
      lastEventAt: '2022-01-01T00:01:01.000Z',
    });
  });

  it('an event occurred when it was created, and has its type normalised as /track does', () => {
    expect(
      tracardiEvent({
        id: 'e',
        type: 'Page View',
        profile: { id: 'p' },
        session: { id: 's' },
        metadata: { time: { insert: '2022-01-01T00:00:05Z', create: '2022-01-01T00:00:04Z' } },
        tags: { values: ['a'], count: 1 },
      }),
    ).toMatchObject({
      type: 'page-view',
      occurredAt: '2022-01-01T00:00:04.000Z',
      insertedAt: '2022-01-01T00:00:05.000Z',
      tags: ['a'],
    });
  });

  it('an event without a profile or session keeps none: null, absent, or with a null id as Tracardi writes them', () => {
    const time = { metadata: { time: { insert: '2022-01-01T00:00:05Z' } } };
    expect(tracardiEvent({ id: 'e', type: 'ping', profile: null, session: null, ...time })).toMatchObject({
      profileId: null,
      sessionId: null,
    });
    expect(tracardiEvent({ id: 'e', type: 'ping', session: { id: null }, ...time })).toMatchObject({
      profileId: null,
      sessionId: null,
    });
    expect(tracardiEvent({ id: 'e', type: 'ping', profile: { id: 'p' }, session: null, ...time })).toMatchObject({
      profileId: 'p',
      sessionId: null,
    });
    // One that is there must name an id.
    expect(() => tracardiEvent({ id: 'e', type: 'ping', profile: { id: '' }, ...time })).toThrow(
      new RowRejected('profile.id: expected an id of 1 to 128 characters'),
    );
    expect(() => tracardiEvent({ id: 'e', type: 'ping', session: 's', ...time })).toThrow(
      new RowRejected('session.id: expected an id of 1 to 128 characters'),
    );
  });

  it('takes a document whose insert time is null or absent as stored when it was created', () => {
    const times = { metadata: { time: { insert: null, create: '2022-01-01T00:00:04Z' } } };
    expect(tracardiProfile({ id: 'p', ...times })).toMatchObject({ createdAt: '2022-01-01T00:00:04.000Z' });
    expect(tracardiSession({ id: 's', profile: { id: 'p' }, ...times })).toMatchObject({
      createdAt: '2022-01-01T00:00:04.000Z',
    });
    expect(
      tracardiEvent({ id: 'e', type: 'ping', metadata: { time: { create: '2022-01-01T00:00:04Z' } } }),
    ).toMatchObject({ occurredAt: '2022-01-01T00:00:04.000Z', insertedAt: '2022-01-01T00:00:04.000Z' });
  });

  it('rejects a document without what Meridian needs, naming the field', () => {
    expect(() => tracardiProfile({ id: 'p' })).toThrow(
      new RowRejected('metadata.time.insert: expected a date-time (or metadata.time.create)'),
    );
    expect(() => tracardiSession({ id: 's', metadata: { time: { insert: '2022-01-01' } } })).toThrow('profile.id');
    expect(() =>
      tracardiEvent({
        id: 'e',
        profile: { id: 'p' },
        session: { id: 's' },
        metadata: { time: { insert: '2022-01-01' } },
      }),
    ).toThrow('type');
  });

  it('rejects a profile or session whose id, or a merged id, is longer than /track takes', () => {
    const metadata = { time: { insert: '2022-01-01' } };
    expect(() => tracardiProfile({ id: 'p'.repeat(129), metadata })).toThrow(
      new RowRejected('id: expected an id of 1 to 128 characters'),
    );
    expect(() => tracardiProfile({ id: 'p', ids: ['p', 7, 'q'.repeat(129)], metadata })).toThrow(
      new RowRejected('ids.2: expected an id of at most 128 characters'),
    );
    expect(tracardiProfile({ id: 'p', ids: ['p', 'q'.repeat(128)], metadata }).ids).toEqual(['q'.repeat(128)]);
    expect(() => tracardiSession({ id: 's', profile: { id: 'p'.repeat(129) }, metadata })).toThrow('profile.id');
  });
});
