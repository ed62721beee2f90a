/** The /flows, /rules, /actions and run history routes over a real store (PGlite, and PostgreSQL when its service is up). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorHandler } from '../src/api/error-handler.js';
import { workflowRoutes } from '../src/api/routes/workflow.js';
import { validatorCompiler } from '../src/api/validation.js';
import type { Database } from '../src/storage/database.js';
import { SqlEventSources } from '../src/storage/sql-event-sources.js';
import { SqlFlows } from '../src/storage/sql-flows.js';
import { SqlRules } from '../src/storage/sql-rules.js';
import { SqlRunHistory } from '../src/storage/sql-run-history.js';
import { SqlSegments } from '../src/storage/sql-segments.js';
import { ACTIONS } from '../src/workflow/actions/index.js';
import { ruleReferences } from '../src/workflow/rule.js';
import { RuleCache } from '../src/workflow/rule-cache.js';
import { purgeExpiredRuns } from '../src/workflow/run-retention.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { NO_HTTP } from './support/flows.js';

const node = (id: string, action: string, config: Record<string, unknown> = {}) => ({ id, action, config });
const edge = (from: string, port: string, to: string) => ({ from: { node: from, port }, to: { node: to } });

/** start → if adult → (true) increment visits → end, (false) set a trait → end. */
const loyaltyFlow = {
  name: 'Loyalty',
  description: 'counts adult visits',
  graph: {
    nodes: [
      node('start', 'start'),
      node('adult', 'if', { condition: 'profile@traits.age > 18' }),
      node('count', 'increment', { target: 'profile@traits.visits', by: 2 }),
      node('minor', 'set-value', { target: 'profile@traits.minor', value: true }),
      node('end', 'end'),
    ],
    edges: [
      edge('start', 'payload', 'adult'),
      edge('adult', 'true', 'count'),
      edge('adult', 'false', 'minor'),
      edge('count', 'payload', 'end'),
      edge('minor', 'payload', 'end'),
    ],
  },
};

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`workflow routes on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let app: FastifyInstance;
    let ruleCache: RuleCache;
    let runs: SqlRunHistory;
    const call = (options: InjectOptions) => app.inject(options);

    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      const flows = new SqlFlows(db);
      const rules = new SqlRules(db);
      runs = new SqlRunHistory(db);
      // A long TTL: whatever the cache shows after a save, it shows because the route told it to forget.
      ruleCache = new RuleCache(rules, 3_600_000);
      app = Fastify();
      app.setValidatorCompiler(validatorCompiler);
      app.setErrorHandler(errorHandler);
      await app.register(
        workflowRoutes({
          flows,
          rules,
          runs,
          references: ruleReferences({ flows, sources: new SqlEventSources(db), segments: new SqlSegments(db) }),
          ruleCache,
          actions: ACTIONS,
          http: NO_HTTP,
        }),
      );
    });
    afterAll(async () => {
      await app?.close();
      await db?.dispose();
    });
    beforeEach(async () => {
      await db.query('DELETE FROM workflow_runs');
      await db.query('DELETE FROM flows');
    });

    describe('/flows', () => {
      it('creates, reads, lists, replaces and deletes a flow', async () => {
        const created = await call({ method: 'POST', url: '/flows', payload: { id: 'loyalty', ...loyaltyFlow } });
        expect(created.statusCode).toBe(201);
        expect(created.json()).toMatchObject({
          id: 'loyalty',
          name: 'Loyalty',
          type: 'collection',
          enabled: true,
          answersClient: false,
          graph: loyaltyFlow.graph,
        });
        expect((await call({ method: 'GET', url: '/flows/loyalty' })).json()).toEqual(created.json());

        const list = await call({ method: 'GET', url: '/flows' });
        expect(list.json()).toEqual([expect.objectContaining({ id: 'loyalty', name: 'Loyalty' })]);
        expect(list.json()[0]).not.toHaveProperty('graph');

        const replaced = await call({
          method: 'PUT',
          url: '/flows/loyalty',
          payload: { ...loyaltyFlow, name: 'Loyalty 2', type: 'segmentation', enabled: false },
        });
        expect(replaced.statusCode).toBe(200);
        expect(replaced.json()).toMatchObject({ name: 'Loyalty 2', type: 'segmentation', enabled: false });

        expect((await call({ method: 'DELETE', url: '/flows/loyalty' })).statusCode).toBe(204);
        expect((await call({ method: 'GET', url: '/flows/loyalty' })).json()).toMatchObject({ error: 'not_found' });
        expect((await call({ method: 'DELETE', url: '/flows/loyalty' })).statusCode).toBe(404);
        expect((await call({ method: 'PUT', url: '/flows/loyalty', payload: loyaltyFlow })).statusCode).toBe(404);
      });

      it('gives a flow a new id when none is sent, and refuses a taken one', async () => {
        const created = await call({ method: 'POST', url: '/flows', payload: loyaltyFlow });
        expect(created.json().id).toMatch(/^[0-9a-f-]{36}$/);
        const again = await call({ method: 'POST', url: '/flows', payload: { id: created.json().id, ...loyaltyFlow } });
        expect(again.statusCode).toBe(409);
        expect(again.json()).toMatchObject({ error: 'conflict', details: [{ field: 'id' }] });
      });

      it('refuses a graph that does not hold together, naming the node and the field', async () => {
        const [start, adult, count] = loyaltyFlow.graph.nodes;
        const unknownAction = await call({
          method: 'POST',
          url: '/flows',
          payload: { ...loyaltyFlow, graph: { nodes: [start, { ...adult!, action: 'teleport' }], edges: [] } },
        });
        expect(unknownAction.statusCode).toBe(400);
        expect(unknownAction.json()).toMatchObject({ error: 'validation_failed' });
        expect(unknownAction.json().details).toContainEqual(
          expect.objectContaining({ field: 'graph.nodes[1].action', message: expect.stringContaining('teleport') }),
        );

        const badCondition = await call({
          method: 'POST',
          url: '/flows',
          payload: {
            ...loyaltyFlow,
            graph: {
              nodes: [start, { ...adult!, config: { condition: 'profile@traits.age >' } }],
              edges: [edge('start', 'payload', 'adult')],
            },
          },
        });
        expect(badCondition.statusCode).toBe(400);
        expect(badCondition.json().details[0].field).toBe('graph.nodes[1].config.condition');

        const dangling = await call({
          method: 'POST',
          url: '/flows',
          payload: { ...loyaltyFlow, graph: { nodes: [start, count], edges: [edge('start', 'payload', 'nowhere')] } },
        });
        expect(dangling.statusCode).toBe(400);
        expect(dangling.json().details[0].field).toMatch(/^graph\.edges\[0\]/);

        const shapeless = await call({ method: 'POST', url: '/flows', payload: { name: 'no graph' } });
        expect(shapeless.statusCode).toBe(400);
        expect(shapeless.json().details).toContainEqual(expect.objectContaining({ field: 'graph' }));

        expect((await call({ method: 'GET', url: '/flows' })).json()).toEqual([]);
      });

      it('runs a flow on a sample for debugging, storing nothing', async () => {
        await call({ method: 'POST', url: '/flows', payload: { id: 'loyalty', ...loyaltyFlow } });
        const adult = await call({
          method: 'POST',
          url: '/flows/loyalty/debug',
          payload: { profile: { id: 'p1', traits: { age: 30, visits: 1 } }, event: { type: 'purchase' } },
        });
        expect(adult.statusCode).toBe(200);
        const result = adult.json();
        expect(result).toMatchObject({ status: 'completed', response: {}, ux: [] });
        expect(result.trace.map((step: { node: string }) => step.node)).toEqual(['start', 'adult', 'count', 'end']);
        expect(result.trace[1]).toMatchObject({ action: 'if', outputs: { true: {} } });
        expect(result.trace[1].startedAt).toMatch(/^\d{4}-/);
        expect(result.effects).toEqual([
          { kind: 'profile', change: { op: 'increment', path: 'traits.visits', by: 2 } },
        ]);

        const minor = await call({
          method: 'POST',
          url: '/flows/loyalty/debug',
          payload: { profile: { id: 'p1', traits: { age: 12 } }, payload: { from: 'debug' } },
        });
        expect(minor.json().trace.map((step: { node: string }) => step.node)).toEqual([
          'start',
          'adult',
          'minor',
          'end',
        ]);
        expect(minor.json().trace[0].input).toEqual({ from: 'debug' });

        // Without a profile, the node that changes one fails, and the run with it.
        const failed = await call({ method: 'POST', url: '/flows/loyalty/debug' });
        expect(failed.statusCode).toBe(200);
        expect(failed.json()).toMatchObject({ status: 'failed', error: { node: 'minor' } });
        expect(failed.json().trace.at(-1)).toMatchObject({ node: 'minor', error: expect.any(String) });

        expect(await db.query('SELECT id FROM workflow_runs')).toEqual([]);
        expect(await db.query('SELECT id FROM profiles')).toEqual([]);
        expect((await call({ method: 'POST', url: '/flows/nope/debug', payload: {} })).statusCode).toBe(404);
      });
    });

    describe('/rules', () => {
      let sourceId: string;
      beforeAll(async () => {
        sourceId = 'web-' + backend.name;
        await new SqlEventSources(db).create({ id: sourceId, name: 'web', description: '', enabled: true });
        await new SqlSegments(db).create({
          id: 'vip',
          name: 'VIP',
          machineName: 'vip',
          description: '',
          condition: 'profile@stats.orders > 10',
          enabled: false,
          eventTypes: [],
        });
      });

      const rule = (fields: Record<string, unknown>) => ({ name: 'rule', flowId: 'loyalty', ...fields });

      it('creates, reads, lists, replaces and deletes rules, and the cache follows each change', async () => {
        await call({ method: 'POST', url: '/flows', payload: { id: 'loyalty', ...loyaltyFlow } });
        expect(await ruleCache.forEvent('order-placed', sourceId)).toEqual([]);

        const created = await call({
          method: 'POST',
          url: '/rules',
          payload: rule({ id: 'orders', kind: 'event', eventType: ' Order Placed ', sourceId }),
        });
        expect(created.statusCode).toBe(201);
        expect(created.json()).toMatchObject({ id: 'orders', kind: 'event', eventType: 'order-placed', sourceId });
        expect(created.json()).not.toHaveProperty('segmentId');
        expect((await ruleCache.forEvent('order-placed', sourceId)).map(({ rule }) => rule.id)).toEqual(['orders']);
        expect(await ruleCache.forEvent('order-placed', 'another-source')).toEqual([]);

        const segmentRule = await call({
          method: 'POST',
          url: '/rules',
          payload: rule({ id: 'vip-in', kind: 'segment-entered', segmentId: 'vip' }),
        });
        expect(segmentRule.statusCode).toBe(201);
        expect((await call({ method: 'GET', url: '/rules/vip-in' })).json()).toMatchObject({
          kind: 'segment-entered',
          segmentId: 'vip',
          enabled: true,
        });
        expect((await call({ method: 'GET', url: '/rules?flowId=loyalty' })).json()).toHaveLength(2);
        expect((await call({ method: 'GET', url: '/rules?flowId=other' })).json()).toEqual([]);

        const replaced = await call({
          method: 'PUT',
          url: '/rules/orders',
          payload: rule({ kind: 'event', eventType: 'order-placed' }),
        });
        expect(replaced.statusCode).toBe(200);
        expect(replaced.json()).not.toHaveProperty('sourceId');
        expect((await ruleCache.forEvent('order-placed', 'another-source')).map(({ rule }) => rule.id)).toEqual([
          'orders',
        ]);

        // A disabled flow's rules start nothing; a flow with a response action runs before the /track answer.
        await call({ method: 'PUT', url: '/flows/loyalty', payload: { ...loyaltyFlow, enabled: false } });
        expect(await ruleCache.forEvent('order-placed', sourceId)).toEqual([]);
        await call({ method: 'PUT', url: '/flows/loyalty', payload: loyaltyFlow });
        expect((await ruleCache.forEvent('order-placed', sourceId))[0]).toMatchObject({ answersClient: false });

        expect((await call({ method: 'DELETE', url: '/rules/orders' })).statusCode).toBe(204);
        expect(await ruleCache.forEvent('order-placed', sourceId)).toEqual([]);
        expect((await call({ method: 'GET', url: '/rules/orders' })).statusCode).toBe(404);
        expect((await call({ method: 'DELETE', url: '/rules/orders' })).statusCode).toBe(404);

        // A flow takes its rules with it.
        await call({ method: 'DELETE', url: '/flows/loyalty' });
        expect((await call({ method: 'GET', url: '/rules/vip-in' })).statusCode).toBe(404);
      });

      it('refuses a rule naming a flow, source or segment that does not exist, or fields of another kind', async () => {
        await call({ method: 'POST', url: '/flows', payload: { id: 'loyalty', ...loyaltyFlow } });
        const missing = await call({
          method: 'POST',
          url: '/rules',
          payload: rule({ kind: 'event', eventType: 'x', sourceId: 'gone', flowId: 'nope' }),
        });
        expect(missing.statusCode).toBe(400);
        expect(missing.json()).toMatchObject({
          error: 'bad_request',
          details: [
            { field: 'flowId', message: 'no flow "nope"' },
            { field: 'sourceId', message: 'no event source "gone"' },
          ],
        });
        const noSegment = await call({
          method: 'POST',
          url: '/rules',
          payload: rule({ kind: 'segment-left', segmentId: 'gone' }),
        });
        expect(noSegment.json().details).toEqual([{ field: 'segmentId', message: 'no segment "gone"' }]);

        const mixed = await call({ method: 'POST', url: '/rules', payload: rule({ kind: 'event', segmentId: 'vip' }) });
        expect(mixed.statusCode).toBe(400);
        expect(mixed.json().details.map((problem: { field: string }) => problem.field)).toEqual([
          'eventType',
          'segmentId',
        ]);
        const badKind = await call({ method: 'POST', url: '/rules', payload: rule({ kind: 'schedule' }) });
        expect(badKind.statusCode).toBe(400);
        expect(badKind.json()).toMatchObject({ error: 'validation_failed', details: [{ field: 'kind' }] });

        await call({ method: 'POST', url: '/rules', payload: rule({ id: 'r1', kind: 'event', eventType: 'x' }) });
        const badUpdate = await call({
          method: 'PUT',
          url: '/rules/r1',
          payload: rule({ kind: 'event', flowId: 'nope', eventType: 'x' }),
        });
        expect(badUpdate.json()).toMatchObject({ error: 'bad_request', details: [{ field: 'flowId' }] });
        const taken = await call({
          method: 'POST',
          url: '/rules',
          payload: rule({ id: 'r1', kind: 'event', eventType: 'y' }),
        });
        expect(taken.statusCode).toBe(409);
        expect(
          (await call({ method: 'PUT', url: '/rules/none', payload: rule({ kind: 'event', eventType: 'x' }) }))
            .statusCode,
        ).toBe(404);
      });
    });

    it('lists the actions with their config schemas and output ports', async () => {
      const answer = await call({ method: 'GET', url: '/actions' });
      expect(answer.statusCode).toBe(200);
      const actions = answer.json() as { id: string }[];
      expect(actions.map((action) => action.id)).toEqual(ACTIONS.list().map((spec) => spec.id));
      expect(actions.find((action) => action.id === 'if')).toMatchObject({
        name: 'If',
        group: 'flow',
        outputs: ['true', 'false'],
        start: false,
        configSchema: { type: 'object', properties: { condition: { type: 'string' } }, required: ['condition'] },
      });
      expect(actions.find((action) => action.id === 'start')).toMatchObject({ start: true, outputs: ['payload'] });
    });

    describe('run history', () => {
      const insertRun = async (id: string, fields: Record<string, unknown> = {}) => {
        const row = {
          flow_id: 'loyalty',
          trigger: 'event',
          status: 'completed',
          created_at: '2026-03-01T10:00:00.000123Z',
          ...fields,
        };
        const columns = Object.keys(row);
        // JSON goes in as text: postgres.js would otherwise send a string as a JSON string.
        const cast = (column: string) => (['trace', 'error'].includes(column) ? '::text::jsonb' : '');
        await db.query(
          `INSERT INTO workflow_runs (id, ${columns.join(', ')})
           VALUES ($1, ${columns.map((column, i) => `$${i + 2}${cast(column)}`).join(', ')})`,
          [id, ...Object.values(row)],
        );
      };

      it("pages a flow's runs newest first, and shows one run with its trace, error and timings", async () => {
        await call({ method: 'POST', url: '/flows', payload: { id: 'loyalty', ...loyaltyFlow } });
        // Runs recorded in the same millisecond, and one in the same microsecond: no page may skip one.
        await insertRun('r-a', { created_at: '2026-03-01T10:00:00.000100Z' });
        await insertRun('r-b', { created_at: '2026-03-01T10:00:00.000200Z' });
        await insertRun('r-c', { created_at: '2026-03-01T10:00:00.000200Z' });
        await insertRun('r-d', { created_at: '2026-03-01T10:00:01Z' });
        await insertRun('other', { flow_id: 'another-flow', created_at: '2026-03-02T00:00:00Z' });
        const trace = [
          {
            node: 'start',
            action: 'start',
            input: {},
            outputs: { payload: {} },
            startedAt: '2026-03-01T10:00:02.000Z',
            durationMs: 0.1,
          },
          {
            node: 'count',
            action: 'increment',
            input: {},
            outputs: {},
            startedAt: '2026-03-01T10:00:02.001Z',
            durationMs: 0.2,
            error: 'this run has no profile',
          },
        ];
        await insertRun('r-e', {
          created_at: '2026-03-01T10:00:02Z',
          started_at: '2026-03-01T10:00:02Z',
          finished_at: '2026-03-01T10:00:02.250Z',
          status: 'failed',
          rule_id: 'orders',
          event_id: 'e1',
          profile_id: 'p1',
          attempts: 1,
          trace: JSON.stringify(trace),
          error: JSON.stringify({ node: 'count', message: 'this run has no profile' }),
        });

        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await call({
            method: 'GET',
            url: `/flows/loyalty/runs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          });
          expect(page.statusCode).toBe(200);
          const body = page.json() as { items: { id: string }[]; next: string | null };
          expect(body.items.length).toBeLessThanOrEqual(2);
          seen.push(...body.items.map((run) => run.id));
          cursor = body.next;
        } while (cursor);
        expect(seen).toEqual(['r-e', 'r-d', 'r-c', 'r-b', 'r-a']);

        const first = (await call({ method: 'GET', url: '/flows/loyalty/runs' })).json().items[0];
        expect(first).toEqual({
          id: 'r-e',
          flowId: 'loyalty',
          ruleId: 'orders',
          trigger: 'event',
          eventId: 'e1',
          profileId: 'p1',
          sessionId: null,
          status: 'failed',
          attempts: 1,
          error: { node: 'count', message: 'this run has no profile' },
          createdAt: '2026-03-01T10:00:02.000Z',
          startedAt: '2026-03-01T10:00:02.000Z',
          finishedAt: '2026-03-01T10:00:02.250Z',
          durationMs: 250,
        });

        const run = await call({ method: 'GET', url: '/runs/r-e' });
        expect(run.statusCode).toBe(200);
        expect(run.json()).toEqual({ ...first, trace, response: {}, ux: [], pause: null });
        const pending = (await call({ method: 'GET', url: '/runs/r-a' })).json();
        expect(pending).toMatchObject({ status: 'completed', startedAt: null, durationMs: null, trace: [] });

        expect((await call({ method: 'GET', url: '/runs/nope' })).json()).toMatchObject({ error: 'not_found' });
        expect((await call({ method: 'GET', url: '/flows/nope/runs' })).statusCode).toBe(404);
        const badCursor = await call({ method: 'GET', url: '/flows/loyalty/runs?cursor=yesterday' });
        expect(badCursor.statusCode).toBe(400);
        expect(badCursor.json().details).toEqual([expect.objectContaining({ field: 'cursor' })]);
      });

      it('purges finished runs past the retention, keeping unfinished and paused ones', async () => {
        const now = new Date('2026-03-31T12:00:00Z');
        const longAgo = '2026-02-01T00:00:00Z';
        await insertRun('old-completed', { status: 'completed', finished_at: longAgo });
        await insertRun('old-failed', { status: 'failed', finished_at: longAgo });
        await insertRun('old-paused', { status: 'paused', created_at: longAgo });
        await insertRun('old-pending', { status: 'pending', created_at: longAgo });
        await insertRun('just-inside', { status: 'completed', finished_at: '2026-03-01T12:00:00.001Z' });
        await insertRun('recent', { status: 'completed', finished_at: '2026-03-30T00:00:00Z' });

        expect(await purgeExpiredRuns(runs, 30, now)).toBe(2);
        const left = await db.query<{ id: string }>('SELECT id FROM workflow_runs ORDER BY id');
        expect(left.map((row) => row.id)).toEqual(['just-inside', 'old-paused', 'old-pending', 'recent']);
        expect(await purgeExpiredRuns(runs, 30, now)).toBe(0);
      });
    });
  });
}

describe('workflow routes in the API server', () => {
  let api: TestApi;
  let shop: Server;
  let shopUrl: string;

  beforeAll(async () => {
    api = await startTestApi('pglite');
    shop = createServer((request, response) =>
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ stock: 3, path: request.url })),
    );
    await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
    shopUrl = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await api?.close();
    await new Promise((resolve) => shop?.close(resolve));
  });

  it('publishes the routes in the OpenAPI document, behind the admin token', async () => {
    const document = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    for (const path of [
      '/flows',

      '/flows/{id}',
      '/flows/{id}/debug',
      '/flows/{id}/runs',
      '/rules',
      '/rules/{id}',
      '/actions',
      '/runs/{id}',
    ]) {
      expect(document.paths).toHaveProperty([path]);
    }
    expect(document.paths['/flows']!['post']!.security).toEqual([{ bearer: [] }]);
    expect((await api.app.inject({ method: 'GET', url: '/actions' })).statusCode).toBe(401);
    expect((await api.admin({ method: 'GET', url: '/actions' })).statusCode).toBe(200);
  });

  it('debugs a flow that calls the outside world and answers the client', async () => {
    const created = await api.admin({
      method: 'POST',
      url: '/flows',
      payload: {
        name: 'Stock check',
        graph: {
          nodes: [
            node('start', 'start'),
            node('ask', 'http-request', { url: `${shopUrl}/stock/{{event@properties.sku}}` }),
            node('answer', 'create-response', { key: 'stock', body: 'payload@body.stock' }),
          ],
          edges: [edge('start', 'payload', 'ask'), edge('ask', 'ok', 'answer')],
        },
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ answersClient: true });
    const debug = await api.admin({
      method: 'POST',
      url: `/flows/${created.json().id}/debug`,
      payload: { event: { type: 'view', properties: { sku: 'A-1' } } },
    });
    expect(debug.json()).toMatchObject({ status: 'completed', response: { stock: 3 } });
    expect(debug.json().trace[1]).toMatchObject({
      node: 'ask',
      outputs: { ok: { status: 200, body: { stock: 3, path: '/stock/A-1' } } },
    });
  });
});
