/**
 * A flow's `schedule event` action end to end: the run's commit stores the item, the scheduler tracks
 * the event for the run's profile when due (workflow and scheduler workers in the API process).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`a flow scheduling an event on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name, {}, { workers: ['workflow', 'scheduler'] });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('tracks the scheduled event for the run profile, once, when due', async () => {
      const trigger = `signup-${randomUUID().slice(0, 8)}`;
      const graph = {
        nodes: [
          { id: 'start', action: 'start', config: {} },
          {
            id: 'later',
            action: 'schedule-event',
            config: { type: 'follow-up', properties: { step: 2 }, delay: '+1s' },
          },
        ],
        edges: [{ from: { node: 'start', port: 'payload' }, to: { node: 'later' } }],
      };
      const flow = await api.admin({
        method: 'POST',
        url: '/flows',
        payload: { name: trigger, type: 'collection', graph },
      });
      expect(flow.statusCode).toBe(201);
      const rule = await api.admin({
        method: 'POST',
        url: '/rules',
        payload: { name: trigger, kind: 'event', eventType: trigger, flowId: (flow.json() as { id: string }).id },
      });
      expect(rule.statusCode).toBe(201);

      const tracked = await api.track({ source: { id: api.sourceId }, events: [{ type: trigger }] });
      const profileId = (tracked.json() as { profile: { id: string } }).profile.id;

      const items = await eventually(
        async () =>
          (await api.admin({ method: 'GET', url: `/scheduled?profile=${profileId}` })).json() as {
            state: string;
            work: { sourceId: string; event: { type: string } };
          }[],
        (list) => list.length === 1 && list[0]!.state === 'done',
      );
      expect(items).toMatchObject([
        { state: 'done', work: { sourceId: api.sourceId, event: { type: 'follow-up', properties: { step: 2 } } } },
      ]);
      const events = await api.admin({ method: 'GET', url: `/events?type=follow-up&profile=${profileId}` });
      expect((events.json() as { items: unknown[] }).items).toHaveLength(1);
    });
  });
}
