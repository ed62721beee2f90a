import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface TrackBody {
  profile: { id: string };
  session: { id: string };
  events: string[];
  errors: { index: number; field: string; message: string }[];
}
interface ErrorBody {
  error: string;
  details: { field: string; message: string }[];
}

/** `{"a":{"a":…{}}}` as text, `depth` objects deep: built as text, since JSON.stringify of it would overflow. */
const nestedJson = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`/track input checks on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name);
    });
    afterAll(async () => {
      await api?.close();
    });

    const storedTypes = async (profileId: string) => {
      const response = await api.admin({ method: 'GET', url: `/events?profile=${profileId}&limit=500` });
      return (response.json() as { items: { type: string }[] }).items.map((event) => event.type).sort();
    };
    const eventCount = async () =>
      (await api.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events'))[0]!.n;
    const post = (contentType: string, body: string) =>
      api.app.inject({ method: 'POST', url: '/track', headers: { 'content-type': contentType }, payload: body });

    const badEvents: [string, Record<string, unknown>, string][] = [
      ['in a property', { type: 'bad', properties: { q: '\ud800' } }, 'events.1.properties.q'],
      [
        'deep in the context',
        { type: 'bad', context: { page: { titles: ['ok', 'x\udfff'] } } },
        'events.1.context.page.titles.1',
      ],
      ['in a property key', { type: 'bad', properties: { '\udc00': 1 } }, 'events.1.properties.\\udc00'],
      ['in a tag', { type: 'bad', tags: ['\ud83d'] }, 'events.1.tags.0'],
      ['in the event id', { type: 'bad', id: 'e-\ud800' }, 'events.1.id'],
      ['in the event type', { type: 'bad\ud800' }, 'events.1.type'],
      ['in the options', { type: 'bad', options: { o: '\ud800' } }, 'events.1.options.o'],
    ];
    it.each(badEvents)(
      'refuses an event with an unpaired surrogate %s by index and field, and stores the others',
      async (_where, bad, field) => {
        const response = await api.track({
          source: { id: api.sourceId },
          events: [{ type: 'good-one' }, bad, { type: 'good-two' }],
        });
        expect(response.statusCode).toBe(226);
        const body = response.json() as TrackBody;
        expect(body.errors).toEqual([{ index: 1, field, message: expect.stringContaining('surrogate') }]);
        expect(await storedTypes(body.profile.id)).toEqual([
          'good-one',
          'good-two',
          'profile-created',
          'session-opened',
          'visit-started',
        ]);
      },
    );

    it('stores characters outside the BMP (well-formed surrogate pairs) as sent', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [{ type: 'emoji', properties: { q: 'ok 😀' } }],
      });
      expect(response.statusCode).toBe(200);
      const [stored] = await api.runtime.db.query<{ properties: { q: string } }>(
        'SELECT properties FROM events WHERE id = $1',
        [(response.json() as TrackBody).events[0]],
      );
      expect(stored?.properties.q).toBe('ok 😀');
    });

    const badRequests: [string, Record<string, unknown>, string][] = [
      ['the request context', { context: { browser: { local: { title: '\ud800' } } } }, 'context.browser.local.title'],
      ['the device', { device: { id: 'd', name: '\ud800' } }, 'device.name'],
      ['the session id', { session: { id: 's-\ud800' } }, 'session.id'],
      ['the profile id', { profile: { id: 'p-\udc00' } }, 'profile.id'],
      ['the source id', { source: { id: '\ud800' } }, 'source.id'],
      ['a context key', { context: { 'k\u0000': 1 } }, 'context.k\\u0000'],
    ];
    it.each(badRequests)(
      'refuses an unpaired surrogate or NUL in %s with 400 naming the field, storing nothing',
      async (_where, part, field) => {
        const before = await eventCount();
        const response = await api.track({ source: { id: api.sourceId }, events: [{ type: 'a' }], ...part });
        expect(response.statusCode).toBe(400);
        expect(response.json()).toMatchObject({ error: 'validation_failed', details: [{ field }] });
        expect(await eventCount()).toBe(before);
      },
    );

    it('accepts request-level properties whatever they hold, as Tracardi does: they are not stored', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [{ type: 'with-odd-properties' }],
        properties: { q: '\ud800', n: '\u0000' },
      });
      expect(response.statusCode).toBe(200);
      const stored = await api.runtime.db.query(`SELECT id FROM events WHERE type = 'with-odd-properties'`);
      expect(stored).toHaveLength(1);
    });

    it('ignores a user agent or language that is not text, with a warning, and stores the event', async () => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/track',
        headers: { 'content-type': 'application/json', 'accept-language': 'de-DE,de;q=0.9', 'user-agent': '' },
        payload: {
          source: { id: api.sourceId },
          context: { browser: { local: { browser: { userAgent: { name: 'Chrome' }, language: ['pl-PL'] } } } },
          events: [{ type: 'odd-context' }],
        },
      });
      expect(response.statusCode).toBe(200);
      const body = response.json() as TrackBody & { warnings: string[] };
      expect(body.warnings).toEqual([
        'context.browser.local.browser.userAgent: expected a string, ignored',
        'context.browser.local.browser.language: expected a string, ignored',
      ]);
      const session = (await api.admin({ method: 'GET', url: `/sessions/${body.session.id}` })).json() as {
        app: Record<string, unknown>;
      };
      expect(session.app).toEqual({ language: 'de-DE' });
      expect(await storedTypes(body.profile.id)).toContain('odd-context');
    });

    it('keeps bad strings out of the group commit: concurrent good requests all succeed beside them', async () => {
      const good = Array.from({ length: 30 }, (_, index) =>
        api.track({ source: { id: api.sourceId }, events: [{ type: 'beside-bad', properties: { index } }] }),
      );
      const bad = Array.from({ length: 30 }, () =>
        api.track({ source: { id: api.sourceId }, events: [{ type: 'bad', properties: { q: '\ud800' } }] }),
      );
      const [goodResponses, badResponses] = await Promise.all([Promise.all(good), Promise.all(bad)]);
      expect(goodResponses.map((response) => response.statusCode)).toEqual(good.map(() => 200));
      expect(badResponses.map((response) => response.statusCode)).toEqual(bad.map(() => 422));
      const [row] = await api.runtime.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM events WHERE type = 'beside-bad'`,
      );
      expect(row?.n).toBe(30);
    });

    it('accepts event properties 64 levels deep and refuses 65 by field, keeping the rest of the batch', async () => {
      const at = (depth: number) =>
        `{"source":{"id":"${api.sourceId}"},"events":[{"type":"deep","properties":${nestedJson(depth)}},{"type":"shallow"}]}`;
      expect((await post('application/json', at(64))).statusCode).toBe(200);
      const refused = await post('application/json', at(65));
      expect(refused.statusCode).toBe(226);
      const [error] = (refused.json() as TrackBody).errors;
      expect(error?.field).toBe(`events.0.properties${'.a'.repeat(64)}`);
      expect(error?.message).toContain('deeper than 64 levels');
    });

    for (const contentType of ['application/json', 'text/plain;charset=UTF-8']) {
      const poisoned: [string, string][] = [
        ['a __proto__ key', '"properties":{"__proto__":{"admin":true}}'],
        ['a constructor.prototype key', '"properties":{"constructor":{"prototype":{"admin":true}}}'],
      ];
      it.each(poisoned)(
        `refuses %s with 400 invalid_json, storing nothing (${contentType})`,
        async (_name, properties) => {
          const before = await eventCount();
          const response = await post(
            contentType,
            `{"source":{"id":"${api.sourceId}"},"events":[{"type":"poisoned",${properties}}]}`,
          );
          expect(response.statusCode).toBe(400);
          expect(response.json()).toMatchObject({ error: 'invalid_json', details: [{ field: 'body' }] });
          expect(await eventCount()).toBe(before);
        },
      );

      it(`refuses malformed and empty bodies with 400 invalid_json (${contentType})`, async () => {
        for (const body of ['{"source": ', '']) {
          const response = await post(contentType, body);
          expect(response.statusCode).toBe(400);
          expect(response.json()).toMatchObject({ error: 'invalid_json', details: [{ field: 'body' }] });
        }
      });

      it(`answers a body nested 100,000 levels deep with a 4xx naming the field, never a 500 (${contentType})`, async () => {
        const before = await eventCount();
        const deep = nestedJson(100_000);
        const inContext = await post(
          contentType,
          `{"source":{"id":"${api.sourceId}"},"context":${deep},"events":[{"type":"a"}]}`,
        );
        expect(inContext.statusCode).toBe(400);
        expect((inContext.json() as ErrorBody).details[0]?.field).toMatch(/^context(\.a){64}$/);
        const inEvent = await post(
          contentType,
          `{"source":{"id":"${api.sourceId}"},"events":[{"type":"a","properties":${deep}}]}`,
        );
        expect(inEvent.statusCode).toBe(422);
        expect((inEvent.json() as ErrorBody).details[0]?.field).toMatch(/^events\.0\.properties(\.a){64}$/);
        const asArrays = await post(contentType, `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
        expect(asArrays.statusCode).toBe(400);
        expect(await eventCount()).toBe(before);
        expect((await api.app.inject({ method: 'GET', url: '/healthcheck' })).statusCode).toBe(200);
      });
    }
  });
}
