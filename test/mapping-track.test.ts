import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

interface Tracked {
  profile: { id: string };
  session: { id: string };
  warnings: string[];
}

/** Mappings applied by /track itself, at collection time, and their interplay with backfills. */
for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`mappings at collection time on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(
        backend.name,
        {},
        {
          workers: ['segmentation'],
          workerOptions: { concurrency: 1, pendingIntervalMs: 100, resegmentSweepMs: 0, triggerIntervalMs: 0 },
        },
      );
    });
    afterAll(async () => api?.close());

    const profile = async (id: string) =>
      (await api.admin({ method: 'GET', url: `/profiles/${id}` })).json() as {
        pii: Record<string, unknown>;
        stats: Record<string, unknown>;
        data: Record<string, unknown>;
      };

    it('copies mapped properties into the traits of new events', async () => {
      const created = await api.admin({
        method: 'POST',
        url: '/mappings',
        payload: {
          name: 'price',
          kind: 'event-props-to-traits',
          eventType: 'purchase',
          mapping: { 'properties.price': 'traits.price' },
        },
      });
      expect(created.statusCode).toBe(201);
      const tracked = (
        await api.track({ source: { id: api.sourceId }, events: [{ type: 'Purchase', properties: { price: 42 } }] })
      ).json() as Tracked;
      const events = (
        await api.admin({ method: 'GET', url: `/events?type=purchase&profile=${tracked.profile.id}` })
      ).json() as { items: { traits: unknown }[] };
      expect(events.items[0]!.traits).toEqual({ price: 42 });
    });

    it('copies event data to the profile, once per event, and a backfill does not apply it again', async () => {
      const created = await api.admin({
        method: 'POST',
        url: '/mappings',
        payload: {
          name: 'identify',
          kind: 'event-to-profile',
          eventType: 'identify',
          mapping: [
            { event: 'properties.email', profile: 'pii.email', op: 'equals' },
            { profile: 'stats.identifies', op: 'increment' },
          ],
        },
      });
      expect(created.statusCode).toBe(201);
      const mapping = created.json() as { id: string };

      const first = (
        await api.track({
          source: { id: api.sourceId },
          events: [{ type: 'identify', id: 'identify-1', properties: { email: 'ann@example.com' } }],
        })
      ).json() as Tracked;
      const visitor = { source: { id: api.sourceId }, profile: first.profile, session: first.session };
      // The same client event again: stored once, mapped once.
      const repeat = (
        await api.track({
          ...visitor,
          events: [{ type: 'identify', id: 'identify-1', properties: { email: 'ann@example.com' } }],
        })
      ).json() as Tracked;
      expect(repeat.warnings.join()).toContain('identify-1');
      await api.track({ ...visitor, events: [{ type: 'identify', properties: { email: 'ann@new.example' } }] });
      expect(await profile(first.profile.id)).toMatchObject({
        pii: { email: 'ann@new.example' },
        stats: { identifies: 2 },
      });

      const started = await api.admin({ method: 'POST', url: `/mappings/${mapping.id}/backfill`, payload: {} });
      expect(started.statusCode).toBe(202);
      const runId = (started.json() as { id: string }).id;
      const run = await eventually(
        async () =>
          (await api.admin({ method: 'GET', url: `/jobs/${runId}` })).json() as {
            state: string;
            total: number;
            done: number;
          },
        (value) => value.state === 'done' || value.state === 'failed',
      );
      expect(run).toMatchObject({ state: 'done', total: 2, done: 2 });
      expect((await profile(first.profile.id)).stats).toEqual({ identifies: 2 });
    });
  });
}
