import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowNode } from '../src/workflow/model.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

// Needs: PostgreSQL for the server-mode half (skipped when absent); the queue is in-process.

interface RunRow {
  id: string;
  status: string;
  attempts: number;
  error: { node: string; message: string } | null;
  trace: { node: string }[];
  raises_pending: boolean;
}

/** A chain of nodes after a start node, each joined to the next on `port` (default `payload`). */
function chain(nodes: (Omit<FlowNode, 'id'> & { port?: string })[]) {
  const all = [{ action: 'start', config: {} }, ...nodes].map((node, index) => ({ ...node, id: `n${index}` }));
  return {
    nodes: all.map(({ id, action, config }) => ({ id, action, config })),
    edges: all.slice(1).map((node, index) => ({
      from: { node: all[index]!.id, port: all[index]!.port ?? 'payload' },
      to: { node: node.id },
    })),
  };
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`workflow runs on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name, {}, { workers: ['workflow'] });
    });
    afterAll(async () => {
      await api?.close();
    });

    /** A flow started by events of a type of its own (so tests do not start each other's flows). */
    async function ruleFor(graph: ReturnType<typeof chain>, eventType = `wf-${randomUUID().slice(0, 8)}`) {
      const flow = await api.admin({
        method: 'POST',
        url: '/flows',
        payload: { name: eventType, type: 'collection', graph },
      });
      expect(flow.statusCode).toBe(201);
      const rule = await api.admin({
        method: 'POST',
        url: '/rules',
        payload: { name: eventType, kind: 'event', eventType, flowId: (flow.json() as { id: string }).id },
      });
      expect(rule.statusCode).toBe(201);
      return eventType;
    }

    const track = (profileId: string | undefined, type: string, properties: Record<string, unknown> = {}) =>
      api.track({
        source: { id: api.sourceId },
        ...(profileId ? { profile: { id: profileId } } : {}),
        events: [{ type, properties }],
      });
    /** A new visitor's profile, by its first event. */
    const newProfile = async (type = 'page-view', properties: Record<string, unknown> = {}) => {
      const answer = await track(undefined, type, properties);
      expect(answer.statusCode).toBe(200);
      return { answer, profileId: (answer.json() as { profile: { id: string } }).profile.id };
    };

    const runsOf = (profileId: string) =>
      api.runtime.db.query<RunRow & Record<string, unknown>>(
        'SELECT * FROM workflow_runs WHERE profile_id = $1 ORDER BY created_at, id',
        [profileId],
      );

    const traitsOf = async (profileId: string) => {
      const response = await api.admin({ method: 'GET', url: `/profiles/${profileId}` });
      return (response.json() as { traits: Record<string, unknown> }).traits;
    };

    it('records a run with the event, executes it in the worker, and sets the trait', async () => {
      const type = await ruleFor(
        chain([
          { action: 'set-value', config: { target: 'profile@traits.plan', value: 'event@properties.plan' } },
          { action: 'end', config: {} },
        ]),
      );
      const { profileId } = await newProfile(type, { plan: 'gold' });
      const runs = await eventually(
        () => runsOf(profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ status: 'completed', attempts: 1 });
      expect(runs[0]!.trace.map((step) => step.node)).toEqual(['n0', 'n1', 'n2']);
      expect(await traitsOf(profileId)).toMatchObject({ plan: 'gold' });
    });

    it('answers /track with what a response action made, and a retried request gets it again', async () => {
      const type = await ruleFor(
        chain([
          { action: 'create-response', config: { key: 'greeting', body: 'Hello {{event@properties.name}}' } },
          { action: 'ux-snippet', config: { html: '<b>hi</b>' } },
        ]),
      );
      const { profileId } = await newProfile();
      const body = {
        source: { id: api.sourceId },
        profile: { id: profileId },
        events: [{ id: randomUUID(), type, properties: { name: 'Ada' } }],
      };
      const first = await api.track(body);
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ response: { greeting: 'Hello Ada' } });
      expect((first.json() as { ux: unknown[] }).ux).toHaveLength(1);
      const again = await api.track(body);
      expect(again.json()).toMatchObject({ response: { greeting: 'Hello Ada' } });
      expect(await runsOf(profileId)).toHaveLength(1);
    });

    it('loses no update when runs for one profile execute at once', async () => {
      const type = await ruleFor(
        chain([
          { action: 'increment', config: { target: 'profile@traits.visits', by: 1 } },
          { action: 'create-response', config: { key: 'counted', body: true } },
        ]),
      );
      const { profileId } = await newProfile();
      const answers = await Promise.all(Array.from({ length: 12 }, () => track(profileId, type)));
      expect(answers.map((answer) => answer.statusCode)).toEqual(answers.map(() => 200));
      const runs = await runsOf(profileId);
      expect(runs.map((run) => run.status)).toEqual(runs.map(() => 'completed'));
      expect(runs).toHaveLength(12);
      expect(await traitsOf(profileId)).toMatchObject({ visits: 12 });
    });

    it('records a failing action as a failed run with its node and message; tracking still answers 200', async () => {
      const type = await ruleFor(
        chain([
          { action: 'set-value', config: { target: 'profile@traits.tier', value: 'gold' } },
          { action: 'increment', config: { target: 'profile@traits.tier', by: 1 } },
          { action: 'create-response', config: { key: 'never', body: true } },
        ]),
      );
      const { profileId, answer } = await newProfile(type);
      expect(answer.json()).toMatchObject({ response: {} });
      const [run] = await runsOf(profileId);
      expect(run).toMatchObject({ status: 'failed', error: { node: 'n2' } });
      expect(run!.error!.message).toMatch(/not a number/);
      // A failed run changes nothing: the trait it set before failing is not stored.
      expect(await traitsOf(profileId)).not.toHaveProperty('tier');
    });

    it('tracks a raised event once, and the loop guard ends a flow that raises its own trigger', async () => {
      const type = `wf-${randomUUID().slice(0, 8)}`;
      await ruleFor(chain([{ action: 'raise-event', config: { type, properties: { again: true } } }]), type);
      const { profileId } = await newProfile(type);
      // The first event and three raised ones (depths 1 to 3); the fourth run's raise is refused.
      const runs = await eventually(
        () => runsOf(profileId),
        (rows) => rows.length === 4 && rows.every((row) => ['completed', 'failed'].includes(row.status)),
      );
      expect(runs.map((run) => run.status)).toEqual(['completed', 'completed', 'completed', 'failed']);
      expect(runs[3]!.error!.message).toMatch(/not raising/);
      const countEvents = async () =>
        (
          await api.runtime.db.query<{ count: number }>(
            'SELECT count(*)::int AS count FROM events WHERE profile_id = $1 AND type = $2',
            [profileId, type],
          )
        )[0]!.count;
      expect(await countEvents()).toBe(4);

      // A crash after a run's commit leaves its raised events marked: the sweep tracks them again,
      // and as their ids are derived from the run, nothing is stored twice.
      await api.runtime.db.query('UPDATE workflow_runs SET raises_pending = true WHERE id = $1', [runs[0]!.id]);
      await eventually(
        () => runsOf(profileId),
        (rows) => rows.every((row) => !row.raises_pending),
      );
      expect(await countEvents()).toBe(4);
      expect(await runsOf(profileId)).toHaveLength(4);
    });

    it('executes a run its process left behind: pending without a wake-up, or under an expired claim', async () => {
      const type = await ruleFor(chain([{ action: 'increment', config: { target: 'profile@traits.seen', by: 1 } }]));
      const { profileId } = await newProfile(type);
      const [run] = await eventually(
        () => runsOf(profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      const executedAgain = (attempts: number) =>
        eventually(
          () => runsOf(profileId),
          (rows) => rows[0]?.status === 'completed' && rows[0].attempts === attempts,
        );
      // As if the process died between the commit and the wake-up: the run is only a row.
      await api.runtime.db.query(`UPDATE workflow_runs SET status = 'pending', finished_at = NULL WHERE id = $1`, [
        run!.id,
      ]);
      expect((await executedAgain(2))[0]).toMatchObject({ status: 'completed', attempts: 2 });
      // As if the process died mid-run: the claim is still there, but expired.
      await api.runtime.db.query(
        `UPDATE workflow_runs SET status = 'running', claimed_until = now() - interval '1 second', finished_at = NULL WHERE id = $1`,
        [run!.id],
      );
      expect((await executedAgain(3))[0]).toMatchObject({ status: 'completed', attempts: 3 });
    });

    it("merges the run's profile with the one holding the same identity key, in the run's commit", async () => {
      const type = await ruleFor(
        chain([
          { action: 'set-value', config: { target: 'profile@pii.email', value: 'event@properties.email' } },
          { action: 'merge-profiles', config: { keys: ['profile@pii.email'] } },
        ]),
      );
      const email = `ada-${randomUUID().slice(0, 8)}@example.org`;
      const first = await newProfile(type, { email });
      await eventually(
        () => runsOf(first.profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      const second = await newProfile(type, { email: email.toUpperCase() });
      await eventually(
        () => runsOf(second.profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      const found = await eventually(
        async () => (await api.admin({ method: 'GET', url: `/profiles/${second.profileId}` })).json() as { id: string },
        (profile) => profile.id === first.profileId,
      );
      expect(found.id).toBe(first.profileId);
    });

    it('claims an identity key a flow sets, merging with the profile that holds it, without a merge action', async () => {
      const type = await ruleFor(
        chain([{ action: 'set-value', config: { target: 'profile@pii.email', value: 'event@properties.email' } }]),
      );
      const email = `grace-${randomUUID().slice(0, 8)}@example.org`;
      const first = await newProfile(type, { email });
      await eventually(
        () => runsOf(first.profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      // The flow is local: it runs in the commit of its event, and so does the merge its key causes, so
      // the answer already names the profile that holds the key.
      const second = await newProfile(type, { email: ` ${email.toUpperCase()}` });
      expect(second.profileId).toBe(first.profileId);
      const merges = (await api.admin({ method: 'GET', url: `/profiles/${first.profileId}/merges` })).json() as {
        mergedIds: string[];
        reason: { by: string; keys: { key: string; value: string }[] };
      }[];
      expect(merges).toMatchObject([{ reason: { by: 'flow', keys: [{ key: 'pii.email', value: email }] } }]);
      expect(merges[0]!.mergedIds).toHaveLength(1);
      expect(merges[0]!.mergedIds).not.toContain(first.profileId);
    });
  });
}
