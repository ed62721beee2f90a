/**
 * A flow's `schedule event` and `pause` actions end to end: the run's commit stores the item, the
 * scheduler tracks the event for the run's profile, or hands the paused run back to the executor, when
 * due (workflow and scheduler workers in the API process).
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

    it('continues a paused run when due, once, with its memory and the trace of both parts', async () => {
      const trigger = `paused-${randomUUID().slice(0, 8)}`;
      const graph = {
        nodes: [
          { id: 'start', action: 'start', config: {} },
          { id: 'a', action: 'set-value', config: { target: 'profile@traits.a', value: 'before' } },
          { id: 'remember', action: 'write-memory', config: { key: 'step', value: 'event@type' } },
          { id: 'wait', action: 'pause', config: { delay: '+3s' } },
          { id: 'b', action: 'increment', config: { target: 'profile@traits.b', by: 1 } },
          { id: 'copy', action: 'set-value', config: { target: 'profile@traits.remembered', value: 'memory@step' } },
          { id: 'end', action: 'end', config: {} },
        ],
        edges: [
          { from: { node: 'start', port: 'payload' }, to: { node: 'a' } },
          { from: { node: 'a', port: 'payload' }, to: { node: 'remember' } },
          { from: { node: 'remember', port: 'payload' }, to: { node: 'wait' } },
          { from: { node: 'wait', port: 'payload' }, to: { node: 'b' } },
          { from: { node: 'b', port: 'payload' }, to: { node: 'copy' } },
          { from: { node: 'copy', port: 'payload' }, to: { node: 'end' } },
        ],
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
      const runOf = async () =>
        (
          await api.runtime.db.query<{ id: string; status: string; trace: { node: string }[]; pause: unknown }>(
            'SELECT id, status, trace, pause FROM workflow_runs WHERE profile_id = $1',
            [profileId],
          )
        )[0];
      const resumesOf = (runId: string) =>
        api.runtime.db.query<{ id: string; state: string }>(
          `SELECT id, state FROM scheduled WHERE kind = 'resume' AND payload->>'runId' = $1`,
          [runId],
        );
      const traitsOf = async () =>
        (
          (await api.admin({ method: 'GET', url: `/profiles/${profileId}` })).json() as {
            traits: Record<string, unknown>;
          }
        ).traits;

      const paused = await eventually(runOf, (run) => run?.status === 'paused');
      expect(paused?.status).toBe('paused');
      expect(paused?.trace.map((step) => step.node)).toEqual(['start', 'a', 'remember', 'wait']);
      expect(await traitsOf()).toEqual({ a: 'before' });
      expect(await resumesOf(paused!.id)).toMatchObject([{ state: expect.stringMatching(/pending|running/) }]);

      const completed = await eventually(runOf, (run) => run?.status === 'completed');
      expect(completed).toMatchObject({ status: 'completed', pause: null });
      expect(completed?.trace.map((step) => step.node)).toEqual(['start', 'a', 'remember', 'wait', 'b', 'copy', 'end']);
      expect(await traitsOf()).toEqual({ a: 'before', b: 1, remembered: trigger });
      const [resume] = await resumesOf(paused!.id);
      expect(resume?.state).toBe('done');

      // Redelivered: the resume item runs again, the run (no longer paused) is not continued twice.
      await api.runtime.db.query(
        `UPDATE scheduled SET state = 'pending', due_at = now(), done_at = NULL WHERE id = $1`,
        [resume!.id],
      );
      await eventually(
        () => resumesOf(paused!.id),
        (items) => items[0]?.state === 'done',
      );
      expect((await resumesOf(paused!.id))[0]?.state).toBe('done');
      expect(await runOf()).toMatchObject({ status: 'completed', trace: completed!.trace });
      expect(await traitsOf()).toEqual({ a: 'before', b: 1, remembered: trigger });
    });

    it('continues a run waiting for an event early on that event, else at its timeout port when due', async () => {
      const trigger = `waiting-${randomUUID().slice(0, 8)}`;
      const awaited = `${trigger}-done`;
      const graph = {
        nodes: [
          { id: 'start', action: 'start', config: {} },
          { id: 'wait', action: 'pause', config: { delay: '+1h', untilEventType: awaited } },
          { id: 'arrived', action: 'set-value', config: { target: 'profile@traits.outcome', value: 'event' } },
          { id: 'late', action: 'set-value', config: { target: 'profile@traits.outcome', value: 'timeout' } },
        ],
        edges: [
          { from: { node: 'start', port: 'payload' }, to: { node: 'wait' } },
          { from: { node: 'wait', port: 'payload' }, to: { node: 'arrived' } },
          { from: { node: 'wait', port: 'timeout' }, to: { node: 'late' } },
        ],
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

      const track = async (type: string, profileId?: string) =>
        (
          (
            await api.track({
              source: { id: api.sourceId },
              ...(profileId ? { profile: { id: profileId } } : {}),
              events: [{ type }],
            })
          ).json() as { profile: { id: string } }
        ).profile.id;
      const runOf = async (profileId: string) =>
        (
          await api.runtime.db.query<{ id: string; status: string }>(
            'SELECT id, status FROM workflow_runs WHERE profile_id = $1',
            [profileId],
          )
        )[0];
      const resumeOf = async (runId: string) =>
        (
          await api.runtime.db.query<{ id: string; state: string }>(
            `SELECT id, state FROM scheduled WHERE kind = 'resume' AND payload->>'runId' = $1`,
            [runId],
          )
        )[0];
      const outcomeOf = async (profileId: string) =>
        (
          (await api.admin({ method: 'GET', url: `/profiles/${profileId}` })).json() as {
            traits: Record<string, unknown>;
          }
        ).traits.outcome;

      const early = await track(trigger);
      const late = await track(trigger);
      const earlyRun = await eventually(
        () => runOf(early),
        (run) => run?.status === 'paused',
      );
      const lateRun = await eventually(
        () => runOf(late),
        (run) => run?.status === 'paused',
      );
      expect([earlyRun?.status, lateRun?.status]).toEqual(['paused', 'paused']);

      await track(awaited, early);
      expect(
        await eventually(
          () => runOf(early),
          (run) => run?.status === 'completed',
        ),
      ).toMatchObject({
        status: 'completed',
      });
      expect(await outcomeOf(early)).toBe('event');
      expect(await resumeOf(earlyRun!.id)).toMatchObject({ state: 'cancelled' });

      // The other run's wait ends: its resume comes due.
      await api.runtime.db.query(`UPDATE scheduled SET due_at = now() WHERE id = $1`, [
        (await resumeOf(lateRun!.id))!.id,
      ]);
      expect(
        await eventually(
          () => runOf(late),
          (run) => run?.status === 'completed',
        ),
      ).toMatchObject({
        status: 'completed',
      });
      expect(await outcomeOf(late)).toBe('timeout');
      // The awaited event after the timeout changes nothing.
      await track(awaited, late);
      expect(await runOf(late)).toMatchObject({ status: 'completed' });
      expect(await outcomeOf(late)).toBe('timeout');
    });
  });
}
