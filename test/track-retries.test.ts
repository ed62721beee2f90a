import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface TrackBody {
  profile: { id: string };
  session: { id: string };
  events: string[];
  warnings: string[];
}

/** Retried and repeated requests: an event id is stored once, and counted once. */
for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`/track retries on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name);
    });
    afterAll(async () => {
      await api?.close();
    });

    const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`;
    const eventsCount = async (sessionId: string) =>
      ((await api.admin({ method: 'GET', url: `/sessions/${sessionId}` })).json() as { eventsCount: number })
        .eventsCount;
    const storedCopies = async (eventId: string) =>
      (await api.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE id = $1', [eventId]))[0]!
        .n;

    it('counts an event sent twice in the same body once', async () => {
      const body = {
        source: { id: api.sourceId },
        session: { id: unique('s') },
        events: [{ type: 'page-view', id: unique('p1-event') }],
      };
      const first = (await api.track(body)).json() as TrackBody;
      const again = await api.track({ ...body, profile: first.profile });
      expect(again.statusCode).toBe(200);
      expect(await eventsCount(first.session.id)).toBe(1);
      expect(await storedCopies(body.events[0]!.id)).toBe(1);
    });

    it('counts only the new events of a batch that repeats some, and a repeat inside one batch once', async () => {
      const seen = unique('seen');
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'a', id: seen }] })
      ).json() as TrackBody;
      const fresh = unique('fresh');
      const mixed = await api.track({
        source: { id: api.sourceId },
        profile: first.profile,
        session: first.session,
        events: [{ type: 'a', id: seen }, { type: 'b', id: fresh }, { type: 'b', id: fresh }, { type: 'c' }],
      });
      expect(mixed.statusCode).toBe(200);
      expect((mixed.json() as TrackBody).warnings.join()).toContain(seen);
      expect(await eventsCount(first.session.id)).toBe(3);
    });

    it('counts 200 concurrent copies of one event once, on one session or on many', async () => {
      const first = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'start' }] })
      ).json() as TrackBody;
      const sameSession = unique('retried');
      const responses = await Promise.all(
        Array.from({ length: 200 }, () =>
          api.track({
            source: { id: api.sourceId },
            profile: first.profile,
            session: first.session,
            events: [{ type: 'purchase', id: sameSession }],
          }),
        ),
      );
      expect(responses.every((response) => response.statusCode === 200)).toBe(true);
      expect(await storedCopies(sameSession)).toBe(1);
      expect(await eventsCount(first.session.id)).toBe(2);

      const acrossSessions = unique('everywhere');
      const sessions = Array.from({ length: 8 }, () => unique('s'));
      const spread = await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          api.track({
            source: { id: api.sourceId },
            session: { id: sessions[index % sessions.length]! },
            events: [{ type: 'purchase', id: acrossSessions }],
          }),
        ),
      );
      expect(spread.every((response) => response.statusCode === 200)).toBe(true);
      expect(await storedCopies(acrossSessions)).toBe(1);
      const counts = await Promise.all(sessions.map(eventsCount));
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(1);
    });

    it('does not count events the request asked not to store', async () => {
      const response = await api.track({
        source: { id: api.sourceId },
        events: [{ type: 'a' }, { type: 'b' }],
        options: { saveEvents: false },
      });
      expect(response.statusCode).toBe(200);
      expect(await eventsCount((response.json() as TrackBody).session.id)).toBe(0);
    });
  });
}
