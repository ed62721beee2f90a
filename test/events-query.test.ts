import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface Page {
  items: { id: string; type: string }[];
  next: string | null;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`event timeline queries on ${backend.name}`, () => {
    let api: TestApi;
    let profileId: string;
    let sessionId: string;
    beforeAll(async () => {
      api = await startTestApi(backend.name);
      const tracked = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'dated', time: '2024-05-01T10:00:00Z' }] })
      ).json() as {
        profile: { id: string };
        session: { id: string };
      };
      profileId = tracked.profile.id;
      sessionId = tracked.session.id;
    });
    afterAll(async () => {
      await api?.close();
    });

    const get = (url: string) => api.admin({ method: 'GET', url });

    const refused: [string, string][] = [
      ['/events?cursor=99999999999999999999999999', 'cursor'],
      ['/events?cursor=9223372036854775808', 'cursor'],
      ['/events?cursor=253402300800000000_1', 'cursor'],
      ['/events?cursor=-62135596800000001_1', 'cursor'],
      ['/events?cursor=1_9223372036854775808', 'cursor'],
      ['/events?cursor=-1', 'cursor'],
      ['/events?cursor=1e5', 'cursor'],
      ['/events?from=%2B275760-09-13T00:00:00.000Z', 'from'],
      ['/events?to=-271821-04-20T00:00:00.000Z', 'to'],
      ['/events?from=hello%205', 'from'],
      ['/events?from=yesterday', 'from'],
      ['/events?from=2024-02-30', 'from'],
      ['/events?to=0999-12-31T00:00:00Z', 'to'],
      ['/events?from=2024-05-01T25:00:00Z', 'from'],
      ['/events?limit=0', 'limit'],
      ['/events?limit=501', 'limit'],
      ['/events?limit=99999999999999999999999', 'limit'],
      ['/events?limit=ten', 'limit'],
      ['/profiles/PROFILE/events?cursor=99999999999999999999999999', 'cursor'],
      ['/profiles/PROFILE/events?limit=-3', 'limit'],
      ['/sessions/SESSION/events?cursor=1_9223372036854775808', 'cursor'],
      ['/sessions/SESSION/events?limit=abc', 'limit'],
    ];
    it.each(refused)('answers %s with 400 naming %s', async (url, field) => {
      const response = await get(url.replace('PROFILE', profileId).replace('SESSION', sessionId));
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'validation_failed', details: [{ field }] });
    });

    it('takes the largest possible cursor as "older than everything so far", through every timeline', async () => {
      for (const url of ['/events', `/profiles/${profileId}/events`, `/sessions/${sessionId}/events`]) {
        const page = (await get(`${url}?cursor=253402300799999999_9223372036854775807`)).json() as Page;
        expect(page.items.map((event) => event.type)).toContain('dated');
        expect((await get(`${url}?cursor=-62135596800000000_0`)).json()).toEqual({ items: [], next: null });
      }
    });

    it.each([
      ['2024-05-01T10:00:00Z', '2024-05-01T10:00:00.001Z', true],
      ['2024-05-01T10:00:00.001Z', undefined, false],
      ['2024-05-01', '2024-05-02', true],
      ['2024-05-01T12:00:00+02:00', '2024-05-01T12:00:00+02:00', false],
      ['2024-05-01T11:00:00+02:00', '2024-05-01T13:00:00+02:00', true],
      ['2024-05-01T10:00', '2024-05-01T10:01', true],
    ])('reads ISO 8601 bounds from=%s to=%s (UTC without an offset)', async (from, to, found) => {
      const query = new URLSearchParams({ profile: profileId, from, ...(to ? { to } : {}) });
      const response = await get(`/events?${query}`);
      expect(response.statusCode).toBe(200);
      expect((response.json() as Page).items.some((event) => event.type === 'dated')).toBe(found);
    });
  });
}
