/**
 * Segment-spec collection with the real `@segment/analytics-node` client against a listening
 * Meridian (PGlite and PostgreSQL), plus the routes' limits and validation.
 */
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

interface StoredEvent {
  id: string;
  type: string;
  profile: { id: string } | null;
  session: { id: string } | null;
  properties: Record<string, unknown>;
}
interface Profile {
  id: string;
  ids: string[];
  traits: Record<string, unknown>;
  pii: Record<string, unknown>;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`Segment spec on ${backend.name}`, () => {
    let api: TestApi;
    let host: string;
    let writeKey: string;
    let sourceId: string;

    beforeAll(async () => {
      api = await startTestApi(backend.name);
      host = await api.app.listen({ host: '127.0.0.1', port: 0 });
      const created = await api.admin({
        method: 'POST',
        url: '/event-sources',
        payload: { name: 'segment', type: 'segment' },
      });
      expect(created.statusCode).toBe(201);
      ({ id: sourceId } = created.json() as { id: string });
      writeKey = (created.json() as { config: { writeKey: string } }).config.writeKey;
    });
    afterAll(async () => {
      await api?.close();
    });

    const client = (key: string) => new Analytics({ writeKey: key, host, flushAt: 1, maxRetries: 0 });

    /** One client call, settled: resolves with the delivery error, if any. */
    const sent = (call: (callback: (error?: unknown) => void) => void) =>
      new Promise<unknown>((resolve) => call((error) => resolve(error)));

    const eventsOf = async (type: string): Promise<StoredEvent[]> => {
      const response = await api.admin({ method: 'GET', url: `/events?type=${type}&limit=500` });
      expect(response.statusCode).toBe(200);
      return (response.json() as { items: StoredEvent[] }).items;
    };
    const profile = async (id: string) => {
      const response = await api.admin({ method: 'GET', url: `/profiles/${id}` });
      return response.statusCode === 200 ? (response.json() as Profile) : undefined;
    };

    describe('Segment-spec collection with @segment/analytics-node', () => {
      it('shows the write key on the segment source', async () => {
        const shown = await api.admin({ method: 'GET', url: `/event-sources/${sourceId}` });
        expect(shown.json()).toMatchObject({ type: 'segment', config: { writeKey } });
      });

      it('stores identify, track, page and alias for two users; the alias merges the anonymous profile', async () => {
        const analytics = client(writeKey);
        for (const user of ['ann', 'bob']) {
          const anonymousId = `anon-${user}`;
          expect(
            await sent((done) => analytics.page({ anonymousId, name: 'Home', properties: { path: '/' } }, done)),
          ).toBeUndefined();
          expect(
            await sent((done) =>
              analytics.identify({ userId: user, traits: { email: `${user}@example.org`, plan: 'pro' } }, done),
            ),
          ).toBeUndefined();
          expect(
            await sent((done) =>
              analytics.track({ userId: user, event: 'Order Completed', properties: { total: 10 } }, done),
            ),
          ).toBeUndefined();
          expect(
            await sent((done) => analytics.alias({ userId: user, previousId: anonymousId }, done)),
          ).toBeUndefined();
        }
        await analytics.closeAndFlush();

        for (const [type, count] of [
          ['page-view', 2],
          ['identify', 2],
          ['order-completed', 2],
          ['alias', 2],
        ] as const)
          expect((await eventsOf(type)).length, type).toBe(count);

        for (const user of ['ann', 'bob']) {
          const known = await profile(user);
          const anonymous = await profile(`anon-${user}`);
          expect(known, user).toBeDefined();
          // Both ids name one profile, which holds the traits and the email as identity reads it.
          expect(anonymous?.id).toBe(known?.id);
          expect([known!.id, ...known!.ids].sort()).toEqual([`anon-${user}`, user].sort());
          expect(known).toMatchObject({ traits: { email: `${user}@example.org`, plan: 'pro' } });
          expect(known!.pii.email).toBe(`${user}@example.org`);
        }
        expect((await profile('ann'))?.id).not.toBe((await profile('bob'))?.id);

        // After the alias, calls by either id go to the one profile: no profile is made again for an id.
        const later = client(writeKey);
        await sent((done) => later.track({ userId: 'ann', event: 'After Alias' }, done));
        await sent((done) => later.track({ anonymousId: 'anon-ann', event: 'After Alias' }, done));
        await later.closeAndFlush();
        const after = await eventsOf('after-alias');
        expect(after.map((event) => event.profile?.id)).toEqual([
          (await profile('ann'))!.id,
          (await profile('ann'))!.id,
        ]);
        // The email was claimed as an identity key: it finds the person, however it is written.
        const found = await api.admin({ method: 'GET', url: '/profiles?key=pii.email&value=ANN@example.org' });
        expect((found.json() as Profile[]).map((one) => one.id)).toEqual([(await profile('ann'))!.id]);
        const merges = await api.admin({ method: 'GET', url: '/profiles/ann/merges' });
        expect(merges.json()).toMatchObject([{ status: 'merged', reason: { by: 'alias' } }]);
      });

      it('stores a retried messageId once', async () => {
        const analytics = client(writeKey);
        for (let attempt = 0; attempt < 2; attempt++)
          expect(
            await sent((done) =>
              analytics.track({ userId: 'carl', event: 'Retried Once', messageId: 'retry-message-1' }, done),
            ),
          ).toBeUndefined();
        await analytics.closeAndFlush();
        const stored = await eventsOf('retried-once');
        expect(stored.map((event) => event.id)).toEqual(['retry-message-1']);
      });

      it('refuses an unknown write key with 401', async () => {
        const analytics = client('not-a-write-key-of-any-source');
        const error = await sent((done) => analytics.track({ userId: 'dan', event: 'Refused' }, done));
        await analytics.closeAndFlush();
        expect(String(error)).toContain('401');
        expect(await eventsOf('refused')).toEqual([]);
      });
    });

    describe('Segment-spec routes', () => {
      /** A call with the write key as HTTP Basic user name; `null`: without an Authorization header. */
      const post = (url: string, payload: unknown, key: string | null = writeKey) =>
        api.app.inject({
          method: 'POST',
          url,
          headers: key === null ? {} : { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
          payload: payload as object,
        });

      it('answers {success: true} and takes the write key from the body too', async () => {
        const response = await post('/v1/screen', { writeKey, anonymousId: 'm1', name: 'Cart' }, null);
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual({ success: true });
        expect((await eventsOf('screen-view')).map((event) => event.properties.name)).toEqual(['Cart']);
      });

      it('puts the group on the profile', async () => {
        expect(
          (await post('/v1/group', { userId: 'gina', groupId: 'acme', traits: { name: 'Acme' } })).statusCode,
        ).toBe(200);
        expect((await profile('gina'))?.traits.groups).toEqual(['acme']);
      });

      it('gives calls of one person in one window the same session', async () => {
        const time = '2026-12-04T10:00:00Z';
        await post('/v1/track', { userId: 'sam', event: 'S One', timestamp: time });
        await post('/v1/track', { userId: 'sam', event: 'S Two', timestamp: '2026-12-04T10:10:00Z' });
        const [one] = await eventsOf('s-one');
        const [two] = await eventsOf('s-two');
        expect(one?.session?.id).toBeDefined();
        expect(two?.session?.id).toBe(one?.session?.id);
      });

      it('answers 400 naming the field for a malformed call', async () => {
        const missing = await post('/v1/track', { event: 'x' });
        expect(missing.statusCode).toBe(400);
        expect(JSON.stringify(missing.json())).toContain('userId');
        const noEvent = await post('/v1/track', { userId: 'u' });
        expect(noEvent.statusCode).toBe(400);
        expect(JSON.stringify(noEvent.json())).toContain('event');
        const badBatch = await post('/v1/batch', {
          batch: [{ type: 'track', userId: 'u', event: 'ok' }, { type: 'x' }],
        });
        expect(badBatch.statusCode).toBe(400);
        expect(JSON.stringify(badBatch.json())).toContain('batch.1.type');
        // What /track refuses in the event is named as the Segment field, with 400 as Segment answers.
        const badTime = await post('/v1/batch', {
          batch: [
            { type: 'track', userId: 'u', event: 'Time Ok' },
            { type: 'track', userId: 'u', event: 'Time Bad', timestamp: 'yesterday' },
          ],
        });
        expect(badTime.statusCode).toBe(400);
        expect(badTime.json()).toMatchObject({ details: [{ field: 'batch.1.timestamp' }] });
        expect(await eventsOf('time-bad')).toEqual([]);
      });

      it('lets a browser on any page send the write key as HTTP Basic', async () => {
        const response = await api.app.inject({
          method: 'OPTIONS',
          url: '/v1/batch',
          headers: {
            origin: 'https://shop.example',
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization,content-type',
          },
        });
        expect(response.statusCode).toBe(204);
        expect(response.headers['access-control-allow-origin']).toBe('https://shop.example');
        expect(String(response.headers['access-control-allow-headers'])).toContain('authorization');
      });

      it('follows a changed write key at once', async () => {
        const created = await api.admin({
          method: 'POST',
          url: '/event-sources',
          payload: { name: 'rotated', type: 'segment', config: { writeKey: 'old-write-key-000001' } },
        });
        const { id } = created.json() as { id: string };
        expect((await post('/v1/track', { userId: 'r', event: 'Rotated' }, 'old-write-key-000001')).statusCode).toBe(
          200,
        );
        const changed = await api.admin({
          method: 'PUT',
          url: `/event-sources/${id}`,
          payload: { config: { writeKey: 'new-write-key-000001' } },
        });
        expect(changed.statusCode).toBe(200);
        expect((await post('/v1/track', { userId: 'r', event: 'Rotated' }, 'old-write-key-000001')).statusCode).toBe(
          401,
        );
        expect((await post('/v1/track', { userId: 'r', event: 'Rotated' }, 'new-write-key-000001')).statusCode).toBe(
          200,
        );
      });

      it('answers 401 without a write key', async () => {
        expect((await post('/v1/track', { userId: 'u', event: 'x' }, null)).statusCode).toBe(401);
        expect((await post('/v1/track', { userId: 'u', event: 'x' }, 'unknown-key-0123456789')).statusCode).toBe(401);
      });

      it('refuses a call over 32 KB and a batch over 500 KB', async () => {
        const text = (bytes: number) => 'x'.repeat(bytes);
        expect(
          (await post('/v1/track', { userId: 'u', event: 'big', properties: { text: text(33_000) } })).statusCode,
        ).toBe(413);
        const bigCall = await post('/v1/batch', {
          batch: [{ type: 'track', userId: 'u', event: 'big', properties: { text: text(33_000) } }],
        });
        expect(bigCall.statusCode).toBe(400);
        expect(JSON.stringify(bigCall.json())).toContain('batch.0');
        const calls = Array.from({ length: 17 }, () => ({
          type: 'track',
          userId: 'u',
          event: 'big',
          properties: { text: text(31_000) },
        }));
        expect((await post('/v1/batch', { batch: calls })).statusCode).toBe(413);
        expect(await eventsOf('big')).toEqual([]);
      });
    });
  });
}

describe.skipIf(!(await postgresAvailable()))('Segment spec on two API processes sharing PostgreSQL', () => {
  let database: TestDatabase;
  let apis: TestApi[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    for (let i = 0; i < 2; i++) apis.push(await startTestApi('postgres', { DATABASE_URL: database.url }));
  });
  afterAll(async () => {
    for (const one of apis) await one.close();
    apis = [];
    await database?.drop();
  });

  it('makes one profile for a new userId whose first calls reach both at once', async () => {
    const created = await apis[0]!.admin({
      method: 'POST',
      url: '/event-sources',
      payload: { name: 'segment', type: 'segment', config: { writeKey: 'shared-write-key-0001' } },
    });
    expect(created.statusCode).toBe(201);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_unused, index) =>
        apis[index % 2]!.app.inject({
          method: 'POST',
          url: '/v1/track',
          payload: { writeKey: 'shared-write-key-0001', userId: 'racer', event: 'Raced', messageId: `race-${index}` },
        }),
      ),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(Array(8).fill(200));
    const events = await apis[1]!.admin({ method: 'GET', url: '/events?type=raced&limit=50' });
    const items = (events.json() as { items: StoredEvent[] }).items;
    expect(items).toHaveLength(8);
    expect(new Set(items.map((event) => event.profile?.id))).toEqual(new Set(['racer']));
  });
});
