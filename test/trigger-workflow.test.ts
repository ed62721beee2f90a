import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

// End to end in one process: segmentation → segment_changes → trigger worker → workflow worker.

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`flows started by segment changes on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(
        backend.name,
        {},
        {
          workers: ['all'],
          workerOptions: { concurrency: 1, pendingIntervalMs: 50, resegmentSweepMs: 0, triggerIntervalMs: 50 },
        },
      );
    });
    afterAll(async () => api?.close());

    const created = async (url: string, payload: object) => {
      const answer = await api.admin({ method: 'POST', url, payload });
      expect(answer.statusCode).toBe(201);
      return answer.json() as { id: string };
    };
    const traitsOf = async (profileId: string) =>
      (
        (await api.admin({ method: 'GET', url: `/profiles/${profileId}` })).json() as {
          traits: Record<string, unknown>;
        }
      ).traits;

    it("runs a segment-entered rule's flow for a tracked profile that enters, with the change as payload", async () => {
      const segment = await created('/segments', {
        name: 'Visitors',
        condition: 'profile@metadata.time.visit.count >= 1',
      });
      const flow = await created('/flows', {
        name: 'welcome',
        type: 'segmentation',
        graph: {
          nodes: [
            { id: 'start', action: 'start', config: {} },
            {
              id: 'welcome',
              action: 'set-value',
              config: { target: 'profile@traits.welcomed', value: 'payload@change' },
            },
          ],
          edges: [{ from: { node: 'start', port: 'payload' }, to: { node: 'welcome' } }],
        },
      });
      await created('/rules', { name: 'welcome', kind: 'segment-entered', segmentId: segment.id, flowId: flow.id });

      const tracked = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })).json() as {
        profile: { id: string };
      };
      expect(
        await eventually(
          () => traitsOf(tracked.profile.id),
          (traits) => traits.welcomed !== undefined,
        ),
      ).toMatchObject({ welcomed: 'entered' });
      const runs = await api.runtime.db.query<{ trigger: string; status: string; payload: unknown }>(
        'SELECT trigger, status, payload FROM workflow_runs WHERE profile_id = $1',
        [tracked.profile.id],
      );
      expect(runs).toEqual([
        {
          trigger: 'segment-entered',
          status: 'completed',
          payload: expect.objectContaining({ segment: segment.id, change: 'entered' }),
        },
      ]);
    });
  });
}
