/**
 * Tracardi 0.9's own browser tracker, replayed: the four /track bodies it sent (test/compat/README.md),
 * through the HTTP route, on PGlite and (when it runs) PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { readCompat } from './support/compat.js';

interface TrackerRequest {
  device: { id: string };
  session: { id: string };
  context: { browser: { local: { browser: { userAgent: string } } } };
  events: {
    type: string;
    time: { create: string };
    options: Record<string, unknown>;
    context: { page: Record<string, unknown> };
  }[];
}

interface TrackAnswer {
  profile: { id: string };
  session: { id: string };
  events: string[];
  errors: unknown[];
  warnings: string[];
}

interface StoredEvent {
  id: string;
  type: string;
  profile: { id: string };
  session: { id: string };
  metadata: { options?: Record<string, unknown> };
  context: { page?: { path?: string } };
  tags: string[];
  time: { occurred: string };
}

const RECORDED = JSON.stringify(readCompat<unknown[]>('tracardi-tracker-requests.json'));

/** The recorded bodies with the placeholders filled in, as the tracker would have sent them to this server. */
function trackerRequests(sourceId: string, profileId = 'PROFILE_ID_FROM_FIRST_ANSWER'): TrackerRequest[] {
  return JSON.parse(
    RECORDED.replaceAll('SOURCE_ID', sourceId).replaceAll('PROFILE_ID_FROM_FIRST_ANSWER', profileId),
  ) as TrackerRequest[];
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`Tracardi 0.9's browser tracker on ${backend.name}`, () => {
    let api: TestApi;
    const answers: TrackAnswer[] = [];
    let sent: TrackerRequest[];
    let stored: Map<string, StoredEvent>;

    beforeAll(async () => {
      api = await startTestApi(backend.name);
    });
    // A hook of its own, so that a slow start of the store does not eat into the replay's time.
    beforeAll(async () => {
      // As the tracker does: the first page load has no profile; every later request carries the
      // profile id of the first answer.
      for (const index of [0, 1, 2, 3]) {
        const body = trackerRequests(api.sourceId, answers[0]?.profile.id)[index];
        const response = await api.track(body);
        expect(response.statusCode, response.body).toBe(200);
        answers.push(response.json() as TrackAnswer);
      }
      sent = trackerRequests(api.sourceId, answers[0]!.profile.id);
      const listed = await api.admin({ method: 'GET', url: `/events?profile=${answers[0]!.profile.id}&limit=500` });
      stored = new Map((listed.json() as { items: StoredEvent[] }).items.map((event) => [event.id, event]));
    });
    afterAll(async () => {
      await api?.close();
    });

    it('answers every request with 200, no errors and no warnings', () => {
      expect(answers).toHaveLength(4);
      for (const answer of answers) expect(answer).toMatchObject({ errors: [], warnings: [] });
    });

    it("keeps the first answer's profile and the tracker's session on the later requests", () => {
      expect(answers.map((answer) => answer.profile.id)).toEqual(Array(4).fill(answers[0]!.profile.id));
      expect(answers.map((answer) => answer.session.id)).toEqual(Array(4).fill(sent[0]!.session.id));
    });

    it('stores every event with its type, its time.create as the occurred time, and its options', () => {
      const expected = sent.flatMap((request, requestIndex) =>
        request.events.map((event, eventIndex) => ({ id: answers[requestIndex]!.events[eventIndex], event })),
      );
      expect(expected).toHaveLength(13);
      for (const { id, event } of expected) {
        const found = stored.get(id!);
        expect(found, `event ${id} (${event.type})`).toBeDefined();
        expect(found).toMatchObject({
          type: event.type,
          profile: { id: answers[0]!.profile.id },
          session: { id: sent[0]!.session.id },
          time: { occurred: event.time.create },
          context: { page: { path: '/' } },
        });
        expect(found!.metadata.options).toEqual(event.options);
      }
      expect(
        [...stored.values()].filter((event) => event.type === 'page-view').map((event) => event.metadata.options),
      ).toContainEqual({ fire: true });
    });

    it('counts one new profile and one visit, since the reloads keep their session', async () => {
      const types = [...stored.values()].map((event) => event.type);
      expect(types.filter((type) => type === 'profile-created')).toHaveLength(1);
      expect(types.filter((type) => type === 'visit-started')).toHaveLength(1);
      const profile = (await api.admin({ method: 'GET', url: `/profiles/${answers[0]!.profile.id}` })).json() as {
        metadata: { time: { visit: { count: number } } };
      };
      expect(profile.metadata.time.visit.count).toBe(1);
    });

    it("records the tracker's device, screen, browser, time zone and page on the session", async () => {
      const session = (await api.admin({ method: 'GET', url: `/sessions/${sent[0]!.session.id}` })).json();
      expect(session).toMatchObject({
        eventsCount: 13,
        device: {
          id: sent[0]!.device.id,
          type: 'desktop',
          resolution: '1280x720',
          color_depth: 24,
          orientation: 'landscape-primary',
        },
        os: { name: 'Linux' },
        app: { type: 'browser', language: 'en-US', userAgent: sent[0]!.context.browser.local.browser.userAgent },
        context: {
          timezone: 'UTC',
          screen: { width: 1280, height: 720 },
          page: { url: `http://shop.example.test/?source=${api.sourceId}`, path: '/', title: 'Test page' },
        },
      });
    });

    it("accepts the rest of Tracardi's payload shape, ignoring with a warning what it cannot use", async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        profile: null,
        session: null,
        device: { id: 7 },
        context: { storage: { local: {}, cookie: {} } },
        properties: { plan: 'gold', note: 'unused, so even a NUL (\u0000) is no reason to refuse' },
        request: { headers: { 'x-forwarded-for': '10.0.0.1' } },
        metadata: { time: { insert: '2020-01-01T00:00:00Z' } },
        options: { saveSession: 'yes', debugger: true },
        debug: true,
        profile_less: true,
        events: [
          { type: 'sign-up', time: { insert: '2026-11-30T10:00:00Z' }, tags: ['web'], user: { id: 'u-1' } },
          { type: 'ping', time: null, properties: null, options: null, context: null, tags: null },
        ],
      });
      expect(response.statusCode, response.body).toBe(200);
      const answer = response.json() as TrackAnswer;
      expect(answer.warnings).toEqual([
        'options.saveSession ignored: expected true or false',
        'device.id ignored: expected a string of 1 to 128 characters without NUL',
        "profile_less is not supported: the events were stored with the request's profile",
      ]);
      const signUp = (
        await api.admin({ method: 'GET', url: `/events?profile=${answer.profile.id}&type=sign-up` })
      ).json() as { items: StoredEvent[] };
      expect(signUp.items).toMatchObject([
        { id: answer.events[0], time: { occurred: '2026-11-30T10:00:00.000Z' }, tags: ['web'] },
      ]);
      expect((await api.admin({ method: 'GET', url: `/sessions/${answer.session.id}` })).statusCode).toBe(200);
    });

    it('says what time expects when an event sends something else, and stores the events that are right', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [
          { type: 'a', time: { create: 'last tuesday' } },
          { type: 'b', time: true },
          { type: 'c', time: { create: '2026-12-01T08:00:00Z' } },
        ],
      });
      expect(response.statusCode).toBe(226);
      const answer = response.json() as TrackAnswer;
      expect(answer.errors).toEqual([
        {
          index: 0,
          field: 'events.0.time.create',
          message:
            'expected an ISO-8601 date-time, epoch milliseconds or seconds, in the years 1000 to 9999 as text, 1 to 9999 as epoch time',
        },
        {
          index: 1,
          field: 'events.1.time',
          message: 'expected an ISO-8601 date-time, epoch milliseconds or seconds, or {create, insert}',
        },
      ]);
      expect(answer.events).toHaveLength(1);
    });

    it('names the field inside a wrong request value instead of "Expected union value"', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        profile: { id: 42 },
        context: 'x',
        events: [{ type: 'a' }],
      });
      expect(response.statusCode).toBe(400);
      expect((response.json() as { details: unknown[] }).details).toEqual([
        { field: 'profile.id', message: 'expected a string or null' },
        { field: 'context', message: 'expected an object or null' },
      ]);
    });
  });
}
