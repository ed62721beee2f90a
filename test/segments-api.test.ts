import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

interface Members {
  items: { profileId: string }[];
  next: string | null;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`segments over HTTP on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(
        backend.name,
        {},
        {
          workers: ['segmentation'],
          workerOptions: { concurrency: 2, pendingIntervalMs: 50, resegmentSweepMs: 0, triggerIntervalMs: 0 },
        },
      );
    });
    afterAll(async () => api?.close());

    const members = async (id: string) =>
      ((await api.admin({ method: 'GET', url: `/segments/${id}/profiles?limit=1000` })).json() as Members).items.map(
        (item) => item.profileId,
      );
    const segmentsOf = async (profileId: string) =>
      ((await api.admin({ method: 'GET', url: `/profiles/${profileId}` })).json() as { segments: string[] }).segments;

    it('validates segments on save and names the field', async () => {
      const bad = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: 'Broken', condition: 'profile@traits.x >' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ error: 'invalid_condition', details: [{ field: 'condition' }] });
      const eventOnly = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: 'Events', condition: 'event@type == "x"' },
      });
      expect(eventOnly.statusCode).toBe(400);
      const missing = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { condition: 'profile@active == true' },
      });
      expect(missing.json()).toMatchObject({ details: [{ field: 'name' }] });
    });

    it('refuses a second segment under a taken id or machine name with 409 naming the field', async () => {
      const first = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { id: 'taken-id', name: 'Taken name', condition: 'profile@active == true' },
      });
      expect(first.statusCode).toBe(201);
      const sameName = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: 'taken  NAME', condition: 'profile@active == true' },
      });
      expect(sameName.statusCode).toBe(409);
      expect(sameName.json()).toMatchObject({ error: 'conflict', details: [{ field: 'name' }] });
      const sameId = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { id: 'taken-id', name: 'Other name', condition: 'profile@active == true' },
      });
      expect(sameId.statusCode).toBe(409);
      expect(sameId.json()).toMatchObject({ error: 'conflict', details: [{ field: 'id' }] });
      await api.admin({ method: 'DELETE', url: '/segments/taken-id' });
    });

    it('computes members when a segment is saved, then follows tracking: profiles enter after tracked events', async () => {
      const one = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] })).json() as {
        profile: { id: string };
        session: { id: string };
      };
      const created = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: {
          name: 'Returning visitors',
          condition: 'profile@metadata.time.visit.count >= 2',
          eventTypes: ['Page View'],
        },
      });
      expect(created.statusCode).toBe(201);
      const segment = created.json() as { id: string; machineName: string; eventTypes: string[] };
      expect(segment.machineName).toBe('returning-visitors');
      expect(segment.eventTypes).toEqual(['page-view']);
      expect(await members(segment.id)).toEqual([]);

      // A second visit (new session) makes the profile match; post-event segmentation picks it up.
      await api.track({ source: { id: api.sourceId }, profile: one.profile, events: [{ type: 'page-view' }] });
      expect(
        await eventually(
          () => members(segment.id),
          (ids) => ids.length === 1,
        ),
      ).toEqual([one.profile.id]);
      expect(await segmentsOf(one.profile.id)).toContain('returning-visitors');
      const detail = (await api.admin({ method: 'GET', url: `/segments/${segment.id}` })).json() as {
        memberCount: number;
        lastRunAt: string | null;
      };
      expect(detail.memberCount).toBe(1);

      // Changing the condition re-decides members in the background: the profile leaves.
      const changed = await api.admin({
        method: 'PUT',
        url: `/segments/${segment.id}`,
        payload: { name: 'Loyal visitors', condition: 'profile@metadata.time.visit.count >= 5' },
      });
      expect(changed.statusCode).toBe(200);
      // Renamed, but profiles keep carrying the name the segment was created with.
      expect(changed.json()).toMatchObject({ name: 'Loyal visitors', machineName: 'returning-visitors' });
      expect(
        await eventually(
          () => members(segment.id),
          (ids) => ids.length === 0,
        ),
      ).toEqual([]);
      expect(await segmentsOf(one.profile.id)).not.toContain('returning-visitors');
      expect((await api.admin({ method: 'GET', url: `/segments/${segment.id}` })).json()).toMatchObject({
        lastRunAt: expect.any(String),
      });
    });

    it('refuses a condition that could never run, and shows a segment that fails at run time while the others go on', async () => {
      for (const condition of ['profile@traits.x == "\ud800"', 'profile@traits.x == "\\ud800"']) {
        const refused = await api.admin({
          method: 'POST',
          url: '/segments',
          payload: { name: 'Half pair', condition },
        });
        expect(refused.statusCode).toBe(400);
        expect(refused.json()).toMatchObject({
          error: 'invalid_condition',
          details: [{ field: 'condition', message: expect.stringContaining('unpaired surrogate') }],
        });
      }
      // Stored when conditions were not checked for it: it cannot run.
      await api.runtime.db.query(
        `INSERT INTO segments (id, name, machine_name, condition) VALUES ('stored-broken', 'Stored broken', 'stored-broken', $1)`,
        ['profile@traits.x == "\\ud800"'],
      );
      const healthy = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: 'Shoppers', condition: 'profile@active == true', eventTypes: ['shop'] },
      });
      expect(healthy.json()).toMatchObject({ failure: null, resegmentPending: false });
      const { id } = healthy.json() as { id: string };
      const tracked = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'shop' }] })).json() as {
        profile: { id: string };
      };
      expect(
        await eventually(
          () => members(id),
          (ids) => ids.includes(tracked.profile.id),
        ),
      ).toContain(tracked.profile.id);
      await eventually(
        () => api.runtime.db.query('SELECT 1 FROM segmentation_pending'),
        (rows) => rows.length === 0,
      );

      const broken = (await api.admin({ method: 'GET', url: '/segments/stored-broken' })).json();
      expect(broken).toMatchObject({
        failure: { message: expect.stringContaining('unpaired surrogate'), at: expect.any(String) },
      });
      const listed = (await api.admin({ method: 'GET', url: '/segments' })).json() as {
        id: string;
        failure: unknown;
      }[];
      expect(listed.find((segment) => segment.id === 'stored-broken')?.failure).toEqual(broken.failure);
      // Saved again with a condition that runs, it is back.
      const fixed = await api.admin({
        method: 'PUT',
        url: '/segments/stored-broken',
        payload: { name: 'Stored broken', condition: 'profile@active == true' },
      });
      expect(fixed.json()).toMatchObject({ failure: null });
      expect(
        await eventually(
          () => members('stored-broken'),
          (ids) => ids.includes(tracked.profile.id),
        ),
      ).toContain(tracked.profile.id);
    });

    it('deletes a segment and takes its name off its members', async () => {
      const tracked = (await api.track({ source: { id: api.sourceId }, events: [{ type: 'purchase' }] })).json() as {
        profile: { id: string };
      };
      const segment = (
        await api.admin({
          method: 'POST',
          url: '/segments',
          payload: { name: 'Everyone', condition: 'profile@active == true' },
        })
      ).json() as { id: string };
      await eventually(
        () => members(segment.id),
        (ids) => ids.includes(tracked.profile.id),
      );
      expect(await segmentsOf(tracked.profile.id)).toContain('everyone');
      expect((await api.admin({ method: 'DELETE', url: `/segments/${segment.id}` })).statusCode).toBe(204);
      expect(await segmentsOf(tracked.profile.id)).not.toContain('everyone');
      expect((await api.admin({ method: 'GET', url: `/segments/${segment.id}` })).statusCode).toBe(404);
    });
  });
}
