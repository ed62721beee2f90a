import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

interface Backlog {
  unconsumed: number;
  oldestAgeSeconds: number | null;
  runsLastMinute: number;
  skipped: number;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`segment triggers over HTTP on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(
        backend.name,
        {},
        {
          workers: ['segmentation', 'trigger'],
          workerOptions: { concurrency: 1, pendingIntervalMs: 50, resegmentSweepMs: 0, triggerIntervalMs: 50 },
        },
      );
    });
    afterAll(async () => api?.close());

    const backlog = async () => (await api.admin({ method: 'GET', url: '/workers/trigger' })).json() as Backlog;
    const rule = async (id: string, segmentId: string, createdAt: string) => {
      await api.runtime.db.query(
        `INSERT INTO flows (id, name, type, graph) VALUES ($1, $1, 'segmentation', '{"nodes":[],"edges":[]}')`,
        [`flow-${id}`],
      );
      await api.runtime.db.query(
        `INSERT INTO rules (id, name, kind, segment_id, flow_id, created_at)
         VALUES ($1, $1, 'segment-entered', $2, $3, $4)`,
        [id, segmentId, `flow-${id}`, createdAt],
      );
    };
    const runsOf = (ruleId: string) =>
      api.runtime.db.query<{ profile_id: string; payload: unknown }>(
        'SELECT profile_id, payload FROM workflow_runs WHERE rule_id = $1',
        [ruleId],
      );

    it('records a run when a tracked profile enters a segment; replays a later rule; skips a deleted profile', async () => {
      const created = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: 'Visitors', condition: 'profile@metadata.time.visit.count >= 1' },
      });
      const segment = created.json() as { id: string };
      await rule('on-visitor', segment.id, '2000-01-01T00:00:00Z');
      await rule('later', segment.id, '2999-01-01T00:00:00Z');

      const tracked = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })).json() as {
        profile: { id: string };
      };
      const runs = await eventually(
        () => runsOf('on-visitor'),
        (rows) => rows.length === 1,
      );
      expect(runs).toEqual([
        {
          profile_id: tracked.profile.id,
          payload: expect.objectContaining({ segment: segment.id, change: 'entered' }),
        },
      ]);
      expect(await backlog()).toMatchObject({ unconsumed: 0, oldestAgeSeconds: null, runsLastMinute: 1, skipped: 0 });
      expect(await runsOf('later')).toEqual([]);

      const tooOld = await api.admin({
        method: 'POST',
        url: '/rules/later/replay',
        payload: { since: '2000-01-01T00:00:00Z' },
      });
      expect(tooOld.statusCode).toBe(400);
      expect(tooOld.json()).toMatchObject({
        message: expect.stringContaining('SEGMENT_CHANGES_RETENTION_DAYS') as string,
        details: [{ field: 'since' }],
      });
      const replayed = await api.admin({
        method: 'POST',
        url: '/rules/later/replay',
        payload: { since: new Date(Date.now() - 86_400_000).toISOString() },
      });
      expect(replayed.statusCode).toBe(200);
      expect(replayed.json()).toEqual({ recorded: 1 });
      expect((await runsOf('later')).map((row) => row.profile_id)).toEqual([tracked.profile.id]);
      expect(
        (await api.admin({ method: 'POST', url: '/rules/nope/replay', payload: { since: '2000-01-01' } })).statusCode,
      ).toBe(404);
      const bad = await api.admin({ method: 'POST', url: '/rules/later/replay', payload: { since: 'last week' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: 'bad_request', details: [{ field: 'since' }] });

      expect((await api.admin({ method: 'DELETE', url: `/profiles/${tracked.profile.id}` })).statusCode).toBe(204);
      expect(await eventually(backlog, (now) => now.skipped === 1)).toMatchObject({
        unconsumed: 0,
        skipped: 1,
        runsLastMinute: 2,
      });
    });
  });
}
