/**
 * Flows of local actions run inside the commit of their event (workflow/inline.ts), over a real store:
 * their effects and their run commit with the event or not at all, two events of one profile both
 * apply, the /track answer carries what they answer, a failing one is a failed run and never fails
 * tracking, run history shows them; a flow with any other action keeps the deferred path; a rule saved
 * through another process takes effect at the next commit.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Composition } from '../src/cli/composition.js';
import { commitSteps } from '../src/cli/commit-steps.js';
import { loadConfig } from '../src/config/config.js';
import { MappingCache } from '../src/mapping/cache.js';
import { createLogger } from '../src/shared/logger.js';
import type { SqlExecutor } from '../src/storage/database.js';
import { SqlTrackingStore } from '../src/storage/sql-tracking-store.js';
import { workflowRulesState } from '../src/storage/sql-workflow-runs.js';
import { TrackCommit } from '../src/tracking/commit.js';
import type { CommitStep } from '../src/tracking/commit-steps.js';
import { SourceCache } from '../src/tracking/source-cache.js';
import { Tracker } from '../src/tracking/tracker.js';
import { ACTIONS } from '../src/workflow/actions/index.js';
import { InlineFlows } from '../src/workflow/inline.js';
import type { FlowGraph } from '../src/workflow/model.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { chain } from './support/flows.js';
import { compositionBackends, openTestComposition, profileAndFlow } from './support/composition.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable } from './support/postgres.js';

// Needs: PostgreSQL for the server-mode half and the two-process case (skipped when absent).

const logger = createLogger('silent');

const counting = chain([
  { action: 'increment', config: { target: 'profile@traits.n', by: 1 } },
  { action: 'set-value', config: { target: 'profile@traits.last', value: 'event@type' } },
  { action: 'add-segment', config: { segment: 'seen' } },
  { action: 'add-event-tags', config: { tags: ['counted'] } },
  { action: 'create-response', config: { key: 'n', body: 'profile@traits.n' } },
]);

interface RunRow {
  id: string;
  status: string;
  attempts: number;
  event_id: string;
  error: { node: string; message: string } | null;
  finished_at: Date | null;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`local flows in the commit on ${backend.name}`, () => {
    let api: TestApi;
    let server: Server;
    let hits = 0;
    beforeAll(async () => {
      api = await startTestApi(backend.name, {}, { workers: ['workflow'] });
      server = createServer((_request, response) => {
        hits++;
        response.setHeader('content-type', 'application/json');
        response.end('{"ok":true}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      await api?.close();
      await new Promise((resolve) => server?.close(resolve));
    });

    /** A flow of `graph` started by events of a type of its own; answers the type and the flow's id. */
    async function ruleFor(graph: FlowGraph) {
      const type = `inline-${randomUUID().slice(0, 8)}`;
      const flow = await api.admin({
        method: 'POST',
        url: '/flows',
        payload: { name: type, type: 'collection', graph },
      });
      expect(flow.statusCode).toBe(201);
      const flowId = (flow.json() as { id: string }).id;
      const rule = await api.admin({
        method: 'POST',
        url: '/rules',
        payload: { name: type, kind: 'event', eventType: type, flowId },
      });
      expect(rule.statusCode).toBe(201);
      return { type, flowId };
    }

    const track = (profileId: string | undefined, events: { type: string; properties?: Record<string, unknown> }[]) =>
      api.track({ source: { id: api.sourceId }, ...(profileId ? { profile: { id: profileId } } : {}), events });
    const runsOf = (profileId: string) =>
      api.runtime.db.query<RunRow & Record<string, unknown>>(
        'SELECT * FROM workflow_runs WHERE profile_id = $1 ORDER BY created_at, id',
        [profileId],
      );
    /** Tracks an event of `type` for a new profile; answers the profile and its runs once the first completed. */
    async function trackAndWaitForRun(type: string) {
      const answer = await track(undefined, [{ type }]);
      const profileId = (answer.json() as { profile: { id: string } }).profile.id;
      const runs = await eventually(
        () => runsOf(profileId),
        (rows) => rows[0]?.status === 'completed',
      );
      return { profileId, runs };
    }
    const profileOf = async (profileId: string) =>
      (
        await api.runtime.db.query<{ traits: Record<string, unknown>; segments: string[] }>(
          'SELECT traits, segments FROM profiles WHERE id = $1',
          [profileId],
        )
      )[0]!;

    it('finishes the run in the commit: the answer carries its response, the profile and the event its changes', async () => {
      const { type, flowId } = await ruleFor(counting);
      const answer = await track(undefined, [{ type }]);
      expect(answer.statusCode).toBe(200);
      const body = answer.json() as { profile: { id: string }; events: string[]; response: Record<string, unknown> };
      expect(body.response).toEqual({ n: 1 });
      // Already there when /track answers: nothing was left for the worker.
      const [run] = await runsOf(body.profile.id);
      expect(run).toMatchObject({ status: 'completed', attempts: 1, event_id: body.events[0] });
      expect(run!.finished_at).not.toBeNull();
      expect(await profileOf(body.profile.id)).toEqual({ traits: { n: 1, last: type }, segments: ['seen'] });
      const [event] = await api.runtime.db.query<{ tags: string[] }>('SELECT tags FROM events WHERE id = $1', [
        body.events[0],
      ]);
      expect(event!.tags).toEqual(['counted']);

      // The run history shows it as any other run.
      const history = await api.admin({ method: 'GET', url: `/runs/${run!.id}` });
      expect(history.statusCode).toBe(200);
      expect(history.json()).toMatchObject({
        id: run!.id,
        flowId,
        trigger: 'event',
        status: 'completed',
        response: { n: 1 },
      });
      expect((history.json() as { trace: { node: string }[] }).trace.map((step) => step.node)).toEqual([
        'n0',
        'n1',
        'n2',
        'n3',
        'n4',
        'n5',
      ]);
      const listed = await api.admin({ method: 'GET', url: `/flows/${flowId}/runs` });
      expect((listed.json() as { items: { id: string }[] }).items.map((item) => item.id)).toEqual([run!.id]);
    });

    it("runs a profile's events in order, each seeing the one before, and loses no update under concurrency", async () => {
      const { type } = await ruleFor(counting);
      const first = await track(undefined, [{ type }]);
      const profileId = (first.json() as { profile: { id: string } }).profile.id;
      // Two events in one request: one flush, in event order.
      const both = await track(profileId, [{ type }, { type }]);
      expect(both.json()).toMatchObject({ response: { n: 3 } });
      // Requests at once: flushes of several lanes, each locking the profile in turn.
      const answers = await Promise.all(Array.from({ length: 8 }, () => track(profileId, [{ type }])));
      expect(answers.map((answer) => answer.statusCode)).toEqual(answers.map(() => 200));
      expect((await profileOf(profileId)).traits).toMatchObject({ n: 11 });
      const runs = await runsOf(profileId);
      expect(runs).toHaveLength(11);
      expect(runs.every((run) => run.status === 'completed' && run.attempts === 1)).toBe(true);
    });

    it('records a failing flow as a failed run with nothing applied; the event is stored and tracking answers 200', async () => {
      const { type } = await ruleFor(
        chain([
          { action: 'set-value', config: { target: 'profile@traits.tier', value: 'gold' } },
          { action: 'increment', config: { target: 'profile@traits.tier', by: 1 } },
        ]),
      );
      const answer = await track(undefined, [{ type }]);
      expect(answer.statusCode).toBe(200);
      const body = answer.json() as { profile: { id: string }; events: string[] };
      const [run] = await runsOf(body.profile.id);
      expect(run).toMatchObject({ status: 'failed', error: { node: 'n2' } });
      expect(run!.error!.message).toMatch(/not a number/);
      expect((await profileOf(body.profile.id)).traits).not.toHaveProperty('tier');
      const stored = await api.runtime.db.query('SELECT id FROM events WHERE id = $1', [body.events[0]]);
      expect(stored).toHaveLength(1);
    });

    it('keeps a flow with an HTTP request on the deferred path: recorded pending, executed once by the worker', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const { type } = await ruleFor(
        chain([
          { action: 'increment', config: { target: 'profile@traits.called', by: 1 } },
          { action: 'http-request', config: { method: 'GET', url } },
        ]),
      );
      const before = hits;
      const { profileId, runs } = await trackAndWaitForRun(type);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ attempts: 1 });
      expect(hits - before).toBe(1);
      expect((await profileOf(profileId)).traits).toEqual({ called: 1 });
    });

    it('still runs a rule when the generation row is gone: the commit matches the rules in SQL', async () => {
      const [stored] = await api.runtime.db.query<{ generation: string }>(
        'DELETE FROM workflow_rules_generation RETURNING generation::text',
      );
      try {
        // Saved while no generation is counted, then read by the cache with none.
        const { type } = await ruleFor(counting);
        const { profileId, runs } = await trackAndWaitForRun(type);
        expect(runs).toHaveLength(1);
        expect((await profileOf(profileId)).traits).toEqual({ n: 1, last: type });
      } finally {
        await api.runtime.db.query('INSERT INTO workflow_rules_generation (generation) VALUES ($1)', [
          Number(stored!.generation) + 1,
        ]);
      }
    });
  });
}

for (const backend of await compositionBackends()) {
  describe.skipIf(!backend.available)(`a commit running local flows on ${backend.name}`, () => {
    let dispose: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await dispose?.();
      dispose = undefined;
    });

    it('commits the run, its profile changes and its event together, or none of them', async () => {
      const opened = await openTestComposition(backend.name);
      dispose = opened.dispose;
      const { root } = opened;
      const { profileId, flowId } = await profileAndFlow(root, 'atomic', counting);
      await root.repositories.rules.create({
        id: `rule-${flowId}`,
        name: flowId,
        kind: 'event',
        eventType: 'atomic',
        flowId,
        enabled: true,
      });
      let failing = true;
      // A step after the runs are stored fails: the whole flush rolls back.
      const failingStep: CommitStep<SqlExecutor> = {
        name: 'failing',
        run: async () => {
          if (failing) throw new Error('the flush fails here');
        },
      };
      const committer = new TrackCommit(
        new SqlTrackingStore(root.db),
        [...commitSteps(root.identity.commitStep()), failingStep],
        new InlineFlows({
          rules: root.ruleCache,
          actions: ACTIONS,
          state: workflowRulesState,
          holdsKeys: () => false,
          logger,
        }),
      );
      const tracker = new Tracker(
        committer,
        new SourceCache(root.repositories.sources),
        new MappingCache(root.repositories.mappings),
        { maxBatch: 10, maxWaitMs: 1, lanes: 1 },
      );
      const eventId = randomUUID();
      const payload = {
        source: { id: 'scheduler' },
        profile: { id: profileId },
        events: [{ id: eventId, type: 'atomic' }],
      };
      await expect(tracker.collect(payload, { channel: 'scheduler' })).rejects.toThrow(/fails here/);
      const state = async () => ({
        events: (await root.db.query('SELECT id FROM events WHERE id = $1', [eventId])).length,
        runs: (await root.db.query('SELECT id FROM workflow_runs WHERE event_id = $1', [eventId])).length,
        traits: (await root.db.query<{ traits: object }>('SELECT traits FROM profiles WHERE id = $1', [profileId]))[0]!
          .traits,
      });
      expect(await state()).toEqual({ events: 0, runs: 0, traits: {} });
      failing = false;
      await tracker.collect(payload, { channel: 'scheduler' });
      expect(await state()).toEqual({ events: 1, runs: 1, traits: { n: 1, last: 'atomic' } });
      await tracker.drain();
    });
  });
}

/** Two Compositions (two processes' worth of caches and lanes) on one fresh PostgreSQL database. */
async function withTwoProcesses(work: (first: Composition, second: Composition) => Promise<void>): Promise<void> {
  const database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  const first = await Composition.open(config, logger);
  const second = await Composition.open(config, logger);
  try {
    await work(first, second);
  } finally {
    await first.close();
    await second.close();
    await database.drop();
  }
}

describe.skipIf(!(await postgresAvailable()))('rules saved through another process', () => {
  it('take effect at the next commit, without waiting for the rules cache to expire', async () => {
    await withTwoProcesses(async (tracking, admin) => {
      const collect = (type: string) =>
        tracking
          .tracking()
          .tracker.collect({ source: { id: 'scheduler' }, events: [{ type }] }, { channel: 'scheduler' });
      // The tracking process reads the rules (none yet) and keeps them.
      const before = await collect('late');
      expect(await tracking.db.query('SELECT id FROM workflow_runs')).toEqual([]);
      await admin.repositories.flows.create({
        id: 'late-flow',
        name: 'late',
        description: '',
        type: 'collection',
        enabled: true,
        answersClient: true,
        graph: counting,
      });
      await admin.repositories.rules.create({
        id: 'late-rule',
        name: 'late',
        kind: 'event',
        eventType: 'late',
        flowId: 'late-flow',
        enabled: true,
      });
      const after = await collect('late');
      expect(after.response).toEqual({ n: 1 });
      const runs = await tracking.db.query<{ status: string; profile_id: string }>(
        'SELECT status, profile_id FROM workflow_runs',
      );
      expect(runs).toEqual([{ status: 'completed', profile_id: after.profile.id }]);
      expect(after.profile.id).not.toBe(before.profile.id);
    });
  });
});

describe.skipIf(!(await postgresAvailable()))('one event sent twice at once, through two processes', () => {
  it('is stored once and runs its local flow once, on one profile', async () => {
    await withTwoProcesses(async (first, second) => {
      await first.repositories.flows.create({
        id: 'twice-flow',
        name: 'twice',
        description: '',
        type: 'collection',
        enabled: true,
        answersClient: false,
        graph: counting,
      });
      await first.repositories.rules.create({
        id: 'twice-rule',
        name: 'twice',
        kind: 'event',
        eventType: 'buy',
        flowId: 'twice-flow',
        enabled: true,
      });
      const pairs = 20;
      for (let pair = 0; pair < pairs; pair++) {
        // No profile id: each process would make its own new visitor for the same client event id.
        const payload = { source: { id: 'scheduler' }, events: [{ id: randomUUID(), type: 'buy' }] };
        await Promise.all(
          [first, second].map((process) => process.tracking().tracker.collect(payload, { channel: 'scheduler' })),
        );
      }
      const count = async (sql: string) => Number((await first.db.query<{ n: string }>(sql))[0]!.n);
      expect({
        events: await count(`SELECT count(*) AS n FROM events WHERE type = 'buy'`),
        runs: await count('SELECT count(*) AS n FROM workflow_runs'),
        counted: await count(`SELECT coalesce(sum((traits->>'n')::int), 0) AS n FROM profiles`),
        inSegment: await count(`SELECT count(*) AS n FROM profiles WHERE 'seen' = ANY(segments)`),
      }).toEqual({ events: pairs, runs: pairs, counted: pairs, inSegment: pairs });
    });
  });
});
