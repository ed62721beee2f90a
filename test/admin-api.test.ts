import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface Page {
  items: { id: string; type: string }[];
  next: string | null;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`admin API on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name, { MAX_PAYLOAD_BYTES: '4096' });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('requires the bearer token on admin routes, but not on /track and /healthcheck', async () => {
      for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
        const response = await api.app.inject({ method: 'GET', url: '/event-sources', headers });
        expect(response.statusCode).toBe(401);
        expect(response.json()).toMatchObject({ error: 'unauthorized', details: [{ field: 'authorization' }] });
      }
      expect((await api.app.inject({ method: 'GET', url: '/healthcheck' })).statusCode).toBe(200);
      expect((await api.track({ source: { id: api.sourceId }, events: [{ type: 'a' }] })).statusCode).toBe(200);
    });

    it('reports storage and queue reachability', async () => {
      const response = await api.app.inject({ method: 'GET', url: '/healthcheck' });
      expect(response.json()).toEqual({ status: 'ok', storage: { ok: true }, queue: { ok: true }, bridges: [] });
    });

    it('manages event sources', async () => {
      const created = await api.admin({
        method: 'POST',
        url: '/event-sources',
        payload: { id: 'web-shop', name: 'Web shop' },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ id: 'web-shop', name: 'Web shop', enabled: true });
      expect(
        (await api.admin({ method: 'POST', url: '/event-sources', payload: { id: 'web-shop', name: 'again' } }))
          .statusCode,
      ).toBe(409);
      expect((await api.admin({ method: 'POST', url: '/event-sources', payload: { name: 5 } })).json()).toMatchObject({
        error: 'validation_failed',
        details: [{ field: 'name' }],
      });
      const updated = await api.admin({ method: 'PUT', url: '/event-sources/web-shop', payload: { name: 'Shop' } });
      expect(updated.json()).toMatchObject({ name: 'Shop', enabled: true });
      const list = (await api.admin({ method: 'GET', url: '/event-sources' })).json() as { id: string }[];
      expect(list.map((source) => source.id)).toContain('web-shop');
      expect((await api.admin({ method: 'DELETE', url: '/event-sources/web-shop' })).statusCode).toBe(204);
      expect((await api.admin({ method: 'GET', url: '/event-sources/web-shop' })).statusCode).toBe(404);
      expect((await api.track({ source: { id: 'web-shop' }, events: [{ type: 'a' }] })).statusCode).toBe(401);
    });

    it('checks a broker source’s config by its kind and never shows the URL’s password', async () => {
      const refused = await api.admin({
        method: 'POST',
        url: '/event-sources',
        payload: { name: 'queue', type: 'rabbitmq', config: { url: 'redis://x', prefetch: 'many' } },
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({
        error: 'validation_failed',
        details: [{ field: 'config.url' }, { field: 'config.prefetch' }, { field: 'config.queue' }],
      });
      const config = { url: 'amqp://meridian:s3cret@broker:5672/prod', queue: 'events' };
      const created = await api.admin({
        method: 'POST',
        url: '/event-sources',
        payload: { id: 'amqp-events', name: 'queue', type: 'rabbitmq', config },
      });
      expect(created.statusCode).toBe(201);
      const masked = { ...config, url: 'amqp://meridian:***@broker:5672/prod' };
      expect(created.json()).toMatchObject({ type: 'rabbitmq', config: masked });
      expect((await api.admin({ method: 'GET', url: '/event-sources/amqp-events' })).body).not.toContain('s3cret');
      expect((await api.admin({ method: 'GET', url: '/event-sources' })).body).not.toContain('s3cret');
      // The masked URL sent back keeps the stored password.
      const edited = await api.admin({
        method: 'PUT',
        url: '/event-sources/amqp-events',
        payload: { config: { ...masked, prefetch: 10 } },
      });
      expect(edited.json()).toMatchObject({ config: { ...masked, prefetch: 10 } });
      const [stored] = await api.runtime.db.query<{ config: unknown }>(
        `SELECT config FROM event_sources WHERE id = 'amqp-events'`,
      );
      expect(stored?.config).toEqual({ ...config, prefetch: 10 });
      const rest = await api.admin({
        method: 'POST',
        url: '/event-sources',
        payload: { name: 'web', config: { url: 'amqp://x' } },
      });
      expect(rest.json()).toMatchObject({ error: 'validation_failed', details: [{ field: 'config' }] });
    });

    it('pages a profile’s events newest first with a cursor, and filters /events', async () => {
      const first = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'e-0' }] })).json() as {
        profile: { id: string };
        session: { id: string };
      };
      for (let i = 1; i < 5; i++) {
        await api.track({
          source: { id: api.sourceId },
          profile: first.profile,
          session: first.session,
          events: [{ type: `e-${i}` }],
        });
      }
      const page1 = (
        await api.admin({ method: 'GET', url: `/profiles/${first.profile.id}/events?limit=4` })
      ).json() as Page;
      expect(page1.items.map((event) => event.type)).toEqual(['e-4', 'e-3', 'e-2', 'e-1']);
      const page2 = (
        await api.admin({ method: 'GET', url: `/profiles/${first.profile.id}/events?limit=4&cursor=${page1.next}` })
      ).json() as Page;
      expect(page2.items.map((event) => event.type)).toEqual([
        'e-0',
        'visit-started',
        'session-opened',
        'profile-created',
      ]);
      expect(page2.next).toBeNull();
      const sessionEvents = (
        await api.admin({ method: 'GET', url: `/sessions/${first.session.id}/events?limit=2` })
      ).json() as Page;
      expect(sessionEvents.items.map((event) => event.type)).toEqual(['e-4', 'e-3']);
      const byType = (
        await api.admin({ method: 'GET', url: `/events?type=e-2&profile=${first.profile.id}` })
      ).json() as Page;
      expect(byType.items).toHaveLength(1);
      const future = (await api.admin({ method: 'GET', url: `/events?from=2999-01-01T00:00:00Z` })).json() as Page;
      expect(future.items).toEqual([]);
      expect((await api.admin({ method: 'GET', url: '/events?from=yesterday' })).json()).toMatchObject({
        details: [{ field: 'from' }],
      });
      expect((await api.admin({ method: 'GET', url: '/events?limit=0' })).statusCode).toBe(400);
    });

    it('orders timelines by occurred time, equal times newest stored first, and pages through equal times', async () => {
      const base = Date.now() - 3_600_000;
      const at = (seconds: number) => new Date(base + seconds * 1000).toISOString();
      const first = (
        await api.track({
          source: { id: api.sourceId },
          events: [
            { type: 'at-3', time: at(3) },
            { type: 'at-1-first', time: at(1) },
            { type: 'at-1-second', time: at(1) },
            { type: 'at-2', time: at(2) },
          ],
        })
      ).json() as { profile: { id: string }; session: { id: string } };
      await api.track({
        source: { id: api.sourceId },
        profile: first.profile,
        session: first.session,
        events: [{ type: 'at-1-later-request', time: at(1) }],
      });
      // The system events the first request opened with occurred with its earliest event, stored before it.
      const expected = [
        'at-3',
        'at-2',
        'at-1-later-request',
        'at-1-second',
        'at-1-first',
        'visit-started',
        'session-opened',
        'profile-created',
      ];
      for (const timeline of [
        `/profiles/${first.profile.id}/events`,
        `/sessions/${first.session.id}/events`,
        `/events?profile=${first.profile.id}&`,
      ]) {
        const query = timeline.endsWith('&') ? timeline : `${timeline}?`;
        const whole = (await api.admin({ method: 'GET', url: `${query}limit=500` })).json() as Page;
        expect(whole.items.map((event) => event.type)).toEqual(expected);
        const paged: string[] = [];
        let cursor: string | null = null;
        do {
          const page = (
            await api.admin({ method: 'GET', url: `${query}limit=2${cursor ? `&cursor=${cursor}` : ''}` })
          ).json() as Page;
          paged.push(...page.items.map((event) => event.type));
          cursor = page.next;
        } while (cursor !== null && paged.length <= expected.length);
        expect(paged).toEqual(expected);
      }
      // No timeline index: the type filter alone, paged through the events of equal time.
      const typePages: string[] = [];
      let cursor: string | null = null;
      do {
        const page = (
          await api.admin({ method: 'GET', url: `/events?type=at-1-first&limit=1${cursor ? `&cursor=${cursor}` : ''}` })
        ).json() as Page;
        typePages.push(...page.items.map((event) => event.id));
        cursor = page.next;
      } while (cursor !== null && typePages.length < 1000);
      expect(new Set(typePages).size).toBe(typePages.length);
      expect((await api.admin({ method: 'GET', url: '/events?cursor=12' })).json()).toMatchObject({
        details: [{ field: 'cursor' }],
      });
    });

    it('deletes a profile with its sessions, events and segment memberships', async () => {
      const tracked = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'doomed' }] })).json() as {
        profile: { id: string };
        session: { id: string };
      };
      const segment = (
        await api.admin({
          method: 'POST',
          url: '/segments',
          payload: { name: `doomed ${Date.now()}`, condition: 'profile@id EXISTS', enabled: false },
        })
      ).json() as { id: string };
      await api.runtime.db.query(
        'INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES ($1, $2, now())',
        [segment.id, tracked.profile.id],
      );
      expect((await api.admin({ method: 'GET', url: `/segments/${segment.id}` })).json()).toMatchObject({
        memberCount: 1,
      });
      // Rows stored under the id of a profile merged into this one go too.
      await api.runtime.db.query(`UPDATE profiles SET ids = ARRAY['merged-into-doomed'] WHERE id = $1`, [
        tracked.profile.id,
      ]);
      await api.runtime.db.query(
        `INSERT INTO events (id, type, profile_id, session_id, source_id, occurred_at) VALUES ('doomed-merged-event', 'doomed', 'merged-into-doomed', 'doomed-merged-session', 's', now())`,
      );
      await api.runtime.db.query(
        `INSERT INTO sessions (id, profile_id) VALUES ('doomed-merged-session', 'merged-into-doomed')`,
      );
      expect((await api.admin({ method: 'DELETE', url: `/profiles/${tracked.profile.id}` })).statusCode).toBe(204);
      expect((await api.admin({ method: 'GET', url: `/segments/${segment.id}` })).json()).toMatchObject({
        memberCount: 0,
      });
      expect((await api.admin({ method: 'GET', url: '/sessions/doomed-merged-session' })).statusCode).toBe(404);
      expect((await api.admin({ method: 'GET', url: `/profiles/${tracked.profile.id}` })).statusCode).toBe(404);
      expect((await api.admin({ method: 'GET', url: `/sessions/${tracked.session.id}` })).statusCode).toBe(404);
      expect(((await api.admin({ method: 'GET', url: '/events?type=doomed' })).json() as Page).items).toEqual([]);
      expect((await api.admin({ method: 'DELETE', url: `/profiles/${tracked.profile.id}` })).statusCode).toBe(404);
    });

    it('refuses a payload over MAX_PAYLOAD_BYTES with 413 before storing anything', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [{ type: 'big', properties: { blob: 'x'.repeat(5000) } }],
      });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toMatchObject({ error: 'payload_too_large', details: [{ field: 'body' }] });
      expect(((await api.admin({ method: 'GET', url: '/events?type=big' })).json() as Page).items).toEqual([]);
    });

    it('answers unknown routes with a JSON 404', async () => {
      const response = await api.app.inject({ method: 'GET', url: '/nope' });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
    });

    it('publishes an OpenAPI document covering every route', async () => {
      const document = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
        openapi: string;
        paths: Record<string, Record<string, unknown>>;
      };
      expect(document.openapi).toMatch(/^3\./);
      const routes = Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      );
      for (const route of [
        'POST /track',
        'GET /healthcheck',
        'POST /event-sources',
        'GET /event-sources',
        'GET /event-sources/{id}',
        'PUT /event-sources/{id}',
        'DELETE /event-sources/{id}',
        'GET /profiles/{id}',
        'DELETE /profiles/{id}',
        'GET /profiles/{id}/events',
        'GET /sessions/{id}',
        'GET /sessions/{id}/events',
        'GET /events',
      ]) {
        expect(routes).toContain(route);
      }
      // A query parameter with a default may be left out: a client generated from the document must not require it.
      const parameters = Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.values(methods).flatMap((operation) =>
          (
            (operation as { parameters?: { name: string; in: string; required?: boolean; schema: object }[] })
              .parameters ?? []
          ).map((parameter) => ({ path, ...parameter })),
        ),
      );
      const jobsLimit = parameters.find(({ path, name }) => path === '/jobs' && name === 'limit');
      expect(jobsLimit).toMatchObject({ in: 'query', schema: { default: 100 } });
      expect(jobsLimit!.required).not.toBe(true);
      expect(parameters.filter((parameter) => 'default' in parameter.schema && parameter.required)).toEqual([]);
      const track = document.paths['/track']!['post'] as {
        requestBody: { content: Record<string, { schema: { required: string[] } }> };
      };
      expect(track.requestBody.content['application/json']!.schema.required).toEqual(
        expect.arrayContaining(['source', 'events']),
      );
    });
  });
}
