import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface TrackBody {
  profile: { id: string };
  session: { id: string };
  events: string[];
  errors: { index: number; field: string; message: string }[];
  warnings: string[];
}

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`/track on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name);
    });
    afterAll(async () => {
      await api?.close();
    });

    const eventsOf = async (query: string) => {
      const response = await api.admin({ method: 'GET', url: `/events?${query}&limit=500` });
      expect(response.statusCode).toBe(200);
      return (response.json() as { items: { id: string; type: string; session: { id: string } }[] }).items;
    };
    const profileOf = async (id: string) => api.admin({ method: 'GET', url: `/profiles/${id}` });

    it('stores a new visitor as a profile, a session and five events', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        profile: null,
        events: [{ type: 'Page View', properties: { url: '/' } }, { type: 'add to cart' }],
      });
      expect(response.statusCode).toBe(200);
      const body = response.json() as TrackBody;
      expect(body.errors).toEqual([]);
      expect(body.events).toHaveLength(2);
      const types = (await eventsOf(`profile=${body.profile.id}`)).map((event) => event.type).sort();
      expect(types).toEqual(['add-to-cart', 'page-view', 'profile-created', 'session-opened', 'visit-started']);
      const profile = (await profileOf(body.profile.id)).json() as {
        metadata: { time: { visit: { count: number } } };
        active: boolean;
      };
      expect(profile.metadata.time.visit.count).toBe(1);
      expect(profile.active).toBe(true);
      const session = await api.admin({ method: 'GET', url: `/sessions/${body.session.id}` });
      expect(session.json()).toMatchObject({ status: 'started', profile: { id: body.profile.id }, eventsCount: 2 });
    });

    it('gives what it creates time-ordered ids (UUIDv7), so that new index entries go side by side', async () => {
      const before = Date.now();
      const response = await api.track({
        source: { id: api.sourceId },
        profile: null,
        events: [{ type: 'page-view' }],
      });
      const after = Date.now();
      const body = response.json() as TrackBody;
      const stored = await eventsOf(`profile=${body.profile.id}`);
      const ids = [body.profile.id, body.session.id, ...body.events, ...stored.map((event) => event.id)];
      expect(stored).toHaveLength(4);
      for (const id of ids) {
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const milliseconds = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
        expect(milliseconds).toBeGreaterThanOrEqual(before);
        expect(milliseconds).toBeLessThanOrEqual(after);
      }
    });

    it('keeps a returning visitor on its profile and session, and marks the session active', async () => {
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })
      ).json() as TrackBody;
      const second = (
        await api.track({
          source: { id: api.sourceId },
          profile: first.profile,
          session: first.session,
          events: [{ type: 'page-view' }],
        })
      ).json() as TrackBody;
      expect(second.profile.id).toBe(first.profile.id);
      expect(second.session.id).toBe(first.session.id);
      const session = (await api.admin({ method: 'GET', url: `/sessions/${first.session.id}` })).json() as {
        status: string;
        eventsCount: number;
      };
      expect(session).toMatchObject({ status: 'active', eventsCount: 2 });
      const types = (await eventsOf(`profile=${first.profile.id}`)).map((event) => event.type);
      expect(types.filter((type) => type === 'visit-started')).toHaveLength(1);
    });

    it('counts on a returning session the events of a request that does not save the session', async () => {
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })
      ).json() as TrackBody;
      await api.track({
        source: { id: api.sourceId },
        profile: first.profile,
        session: first.session,
        options: { saveSession: false },
        events: [{ type: 'page-view' }, { type: 'page-view' }],
      });
      const session = (await api.admin({ method: 'GET', url: `/sessions/${first.session.id}` })).json() as {
        eventsCount: number;
      };
      expect(session.eventsCount).toBe(3);
      expect(await eventsOf(`session=${first.session.id}`)).toHaveLength(6);
    });

    it('treats an unknown profile id as forged: a new profile with a new id', async () => {
      const body = (
        await api.track({ source: { id: api.sourceId }, profile: { id: 'forged-id' }, events: [{ type: 'x' }] })
      ).json() as TrackBody;
      expect(body.profile.id).not.toBe('forged-id');
      expect((await profileOf('forged-id')).statusCode).toBe(404);
      expect((await profileOf(body.profile.id)).statusCode).toBe(200);
    });

    it('with options.saveProfile false, stores no profile and nothing that points at one', async () => {
      const marker = `unsaved-${Date.now()}`;
      const stored = (marker: string) =>
        api.runtime.db.query<{ type: string; profile_id: string | null; session_id: string | null }>(
          `SELECT type, profile_id, session_id FROM events WHERE context->>'marker' = $1 ORDER BY type`,
          [marker],
        );
      const response = await api.track({
        source: { id: api.sourceId },
        context: { marker },
        events: [{ type: 'page-view' }, { type: 'purchase' }],
        options: { saveProfile: false },
      });
      expect(response.statusCode).toBe(200);
      const body = response.json() as TrackBody;
      expect((await profileOf(body.profile.id)).statusCode).toBe(404);
      expect((await api.admin({ method: 'GET', url: `/sessions/${body.session.id}` })).statusCode).toBe(404);
      // The events are kept, profile-less and session-less; no system event tells of a profile or session.
      expect(await stored(marker)).toEqual([
        { type: 'page-view', profile_id: null, session_id: null },
        { type: 'purchase', profile_id: null, session_id: null },
      ]);

      // A known profile is left as it was; the request's session and events still point at it.
      const known = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })
      ).json() as TrackBody;
      const before = (await profileOf(known.profile.id)).json() as { metadata: { time: { visit: { count: number } } } };
      const again = await api.track({
        source: { id: api.sourceId },
        profile: known.profile,
        context: { marker: `${marker}-known` },
        events: [{ type: 'page-view' }],
        options: { saveProfile: false },
      });
      const later = again.json() as TrackBody;
      expect(later.profile.id).toBe(known.profile.id);
      expect((await profileOf(known.profile.id)).json()).toMatchObject({
        metadata: { time: { visit: { count: before.metadata.time.visit.count } } },
      });
      expect((await api.admin({ method: 'GET', url: `/sessions/${later.session.id}` })).json()).toMatchObject({
        profile: { id: known.profile.id },
      });
      expect((await stored(`${marker}-known`)).map((event) => [event.type, event.profile_id])).toEqual([
        ['page-view', known.profile.id],
        ['session-opened', known.profile.id],
        ['visit-started', known.profile.id],
      ]);
    });

    it('keeps resolving the id of a profile merged into another', async () => {
      const kept = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'a' }] })).json() as TrackBody;
      await api.runtime.db.query(`UPDATE profiles SET ids = ARRAY['merged-away-id'] WHERE id = $1`, [kept.profile.id]);
      expect(((await profileOf('merged-away-id')).json() as { id: string }).id).toBe(kept.profile.id);
      const again = (
        await api.track({ source: { id: api.sourceId }, profile: { id: 'merged-away-id' }, events: [{ type: 'b' }] })
      ).json() as TrackBody;
      expect(again.profile.id).toBe(kept.profile.id);
    });

    it('opens a new session with its own visit for a new session id on a known profile', async () => {
      const first = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'a' }] })).json() as TrackBody;
      const second = (
        await api.track({
          source: { id: api.sourceId },
          profile: first.profile,
          session: { id: `s-${Date.now()}` },
          events: [{ type: 'b' }],
        })
      ).json() as TrackBody;
      expect(second.profile.id).toBe(first.profile.id);
      expect(second.session.id).not.toBe(first.session.id);
      const profile = (await profileOf(first.profile.id)).json() as {
        metadata: { time: { visit: { count: number; last: string | null } } };
      };
      expect(profile.metadata.time.visit.count).toBe(2);
      expect(profile.metadata.time.visit.last).not.toBeNull();
    });

    it('ends a visit with visit-ended and reopens it with a new visit-started on the next event', async () => {
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })
      ).json() as TrackBody;
      const context = { source: { id: api.sourceId }, profile: first.profile, session: first.session };
      await api.track({ ...context, events: [{ type: 'visit-ended' }] });
      expect((await api.admin({ method: 'GET', url: `/sessions/${first.session.id}` })).json()).toMatchObject({
        status: 'ended',
      });
      await api.track({ ...context, events: [{ type: 'page-view' }] });
      const session = (await api.admin({ method: 'GET', url: `/sessions/${first.session.id}` })).json() as {
        status: string;
        metadata: { time: { visit: { ended: unknown } } };
      };
      expect(session.status).toBe('started');
      expect(session.metadata.time.visit.ended).toBeNull();
      const types = (await eventsOf(`session=${first.session.id}`)).map((event) => event.type).reverse();
      expect(types).toEqual([
        'profile-created',
        'session-opened',
        'visit-started',
        'page-view',
        'visit-ended',
        'visit-started',
        'page-view',
      ]);
      const profile = (await profileOf(first.profile.id)).json() as {
        metadata: { time: { visit: { count: number } } };
      };
      expect(profile.metadata.time.visit.count).toBe(2);
    });

    it('stores a client-sent event id once, however often it is sent', async () => {
      const id = `evt-${Math.random()}`;
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'purchase', id }] })
      ).json() as TrackBody;
      const again = await api.track({
        source: { id: api.sourceId },
        profile: first.profile,
        session: first.session,
        events: [{ type: 'purchase', id }],
      });
      expect(again.statusCode).toBe(200);
      expect((again.json() as TrackBody).warnings.join()).toContain(id);
      expect((await eventsOf('type=purchase')).filter((event) => event.id === id)).toHaveLength(1);
    });

    it('stores an event id repeated within one request once, lists it once and warns of the repeat', async () => {
      const id = `evt-${Math.random()}`;
      const response = await api.track({
        source: { id: api.sourceId },
        events: [
          { type: 'purchase', id, properties: { copy: 'first' } },
          { type: 'page-view' },
          { type: 'purchase', id, properties: { copy: 'second' } },
        ],
      });
      expect(response.statusCode).toBe(200);
      const body = response.json() as TrackBody;
      expect(body.events.filter((event) => event === id)).toHaveLength(1);
      expect(body.events).toHaveLength(2);
      expect(body.warnings).toEqual([`event 2: id "${id}" repeats event 0 of this request; kept once`]);
      const stored = (await eventsOf(`profile=${body.profile.id}`)).filter((event) => event.id === id) as unknown as {
        properties: unknown;
      }[];
      expect(stored).toMatchObject([{ properties: { copy: 'first' } }]);
      const session = await api.admin({ method: 'GET', url: `/sessions/${body.session.id}` });
      expect(session.json()).toMatchObject({ eventsCount: 2 });
    });

    it('parses the user agent and keeps device id, UTM, screen and time zone on the session', async () => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/track',
        headers: { 'user-agent': CHROME, 'content-type': 'application/json', 'x-timestamp': '1700000000' },
        payload: {
          source: { id: api.sourceId },
          profile: null,
          device: { id: 'device-1' },
          context: {
            page: { url: 'https://shop.example/?utm_source=news&utm_campaign=spring' },
            browser: { local: { screen: { width: 1920, height: 1080 } } },
            time: { tz: 'Europe/Warsaw' },
            storage: { cookie: {} },
          },
          events: [{ type: 'page-view' }],
        },
      });
      const body = response.json() as TrackBody;
      const session = (await api.admin({ method: 'GET', url: `/sessions/${body.session.id}` })).json();
      expect(session).toMatchObject({
        device: { id: 'device-1', type: 'desktop' },
        os: { name: 'Windows' },
        app: { name: 'Chrome', type: 'browser' },
        context: {
          utm: { source: 'news', campaign: 'spring' },
          screen: { width: 1920, height: 1080 },
          timezone: 'Europe/Warsaw',
        },
      });
    });

    it('accepts sendBeacon JSON sent as text/plain', async () => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/track',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        payload: JSON.stringify({ source: { id: api.sourceId }, events: [{ type: 'beacon' }] }),
      });
      expect(response.statusCode).toBe(200);
      expect((await eventsOf('type=beacon')).length).toBe(1);
    });

    it('answers a CORS preflight from a shop origin', async () => {
      const response = await api.app.inject({
        method: 'OPTIONS',
        url: '/track',
        headers: {
          origin: 'https://shop.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-timestamp',
        },
      });
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(response.headers['access-control-allow-headers'])).toContain('x-timestamp');
    });

    it('stores the valid events of a batch and reports the bad one by index with 226', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [
          { type: 'good-one' },
          { properties: {} },
          { type: 'good-two', time: 'not a date' },
          { type: 'good-three' },
        ],
      });
      expect(response.statusCode).toBe(226);
      const body = response.json() as TrackBody;
      expect(body.errors.map((error) => [error.index, error.field])).toEqual([
        [1, 'events.1.type'],
        [2, 'events.2.time'],
      ]);
      expect(body.events).toHaveLength(2);
      const stored = (await eventsOf(`profile=${body.profile.id}`)).map((event) => event.type);
      expect(stored).toContain('good-one');
      expect(stored).toContain('good-three');
    });

    const rejected: [string, unknown, number, string][] = [
      ['no source', { events: [{ type: 'a' }] }, 400, 'source'],
      ['a number as source id', { source: { id: 5 }, events: [{ type: 'a' }] }, 400, 'source.id'],
      ['no events', { source: { id: 'x' } }, 400, 'events'],
      ['an empty event list', { source: { id: 'x' }, events: [] }, 400, 'events'],
      ['events that are not a list', { source: { id: 'x' }, events: 'page-view' }, 400, 'events'],
      ['only invalid events', { source: { id: 'SOURCE' }, events: [{ type: 42 }] }, 422, 'events.0.type'],
      ['an unknown source', { source: { id: 'no-such-source' }, events: [{ type: 'a' }] }, 401, 'source.id'],
      [
        'a time PostgreSQL cannot hold',
        { source: { id: 'SOURCE' }, events: [{ type: 'a', time: 253402300800000 }] },
        422,
        'events.0.time',
      ],
      [
        'a NUL character in an event',
        { source: { id: 'SOURCE' }, events: [{ type: 'a', properties: { x: 'a\u0000b' } }] },
        422,
        'events.0.properties.x',
      ],
      [
        'a NUL character in the session id',
        { source: { id: 'SOURCE' }, session: { id: 'a\u0000' }, events: [{ type: 'a' }] },
        400,
        'session.id',
      ],
      [
        'a NUL character in the context',
        { source: { id: 'SOURCE' }, context: { k: '\u0000' }, events: [{ type: 'a' }] },
        400,
        'context.k',
      ],
    ];
    it.each(rejected)(
      'rejects %s with a JSON error naming the field, storing nothing',
      async (_name, body, status, field) => {
        const before = (await eventsOf('')).length;
        const payload = JSON.parse(JSON.stringify(body).replace('SOURCE', api.sourceId));
        const response = await api.track(payload);
        expect(response.statusCode).toBe(status);
        const error = response.json() as {
          error: string;
          message: string;
          detail: string;
          details: { field: string }[];
        };
        expect(error.details.map((detail) => detail.field)).toContain(field);
        expect(typeof error.detail).toBe('string');
        expect((await eventsOf('')).length).toBe(before);
      },
    );

    it('rejects malformed JSON with 400 invalid_json', async () => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/track',
        headers: { 'content-type': 'application/json' },
        payload: '{"source": ',
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_json', details: [{ field: 'body' }] });
    });

    it('refuses a disabled source with 401 and accepts it again once enabled', async () => {
      const created = (
        await api.admin({ method: 'POST', url: '/event-sources', payload: { name: 'toggle' } })
      ).json() as { id: string };
      await api.admin({ method: 'PUT', url: `/event-sources/${created.id}`, payload: { enabled: false } });
      expect((await api.track({ source: { id: created.id }, events: [{ type: 'a' }] })).statusCode).toBe(401);
      await api.admin({ method: 'PUT', url: `/event-sources/${created.id}`, payload: { enabled: true } });
      expect((await api.track({ source: { id: created.id }, events: [{ type: 'a' }] })).statusCode).toBe(200);
    });

    it('keeps per-profile counts exact under many concurrent requests', async () => {
      const first = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'a' }] })).json() as TrackBody;
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, index) =>
          api.track({
            source: { id: api.sourceId },
            profile: first.profile,
            session: { id: `${first.profile.id}-s${index % 6}` },
            events: [{ type: 'burst' }],
          }),
        ),
      );
      expect(responses.every((response) => response.statusCode === 200)).toBe(true);
      expect(new Set(responses.map((response) => (response.json() as TrackBody).profile.id))).toEqual(
        new Set([first.profile.id]),
      );
      const profile = (await profileOf(first.profile.id)).json() as {
        metadata: { time: { visit: { count: number } } };
      };
      expect(profile.metadata.time.visit.count).toBe(7);
      expect((await eventsOf(`profile=${first.profile.id}&type=burst`)).length).toBe(60);
    });
  });
}
