import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from './support/processes.js';
import { serviceAvailable } from './support/services.js';
import { eventually } from './support/eventually.js';

const TOKEN = 'server-mode-token';
const redisUp = await serviceAvailable('Redis', async () => {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
});
const postgresUp = await postgresAvailable();

/** Production mode as README documents it: PostgreSQL + Redis, API, worker and jobs as separate processes. */
describe.skipIf(!redisUp || !postgresUp)(
  'server mode: api, worker and jobs as processes on PostgreSQL + BullMQ',
  () => {
    let database: TestDatabase;
    let env: Record<string, string>;
    let api: MeridianProcess;
    let worker: MeridianProcess | undefined;
    let workflowWorker: MeridianProcess | undefined;
    let url: string;

    beforeAll(async () => {
      database = await createTestDatabase();
      env = {
        DATABASE_URL: database.url,
        REDIS_HOST: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: `meridian-test-${randomUUID()}`,
        API_TOKEN: TOKEN,
      };
      const port = await freePort();
      api = runMeridian(['api'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
      url = `http://127.0.0.1:${port}`;
      await waitForHealthy(url, api);
    });

    afterAll(async () => {
      await workflowWorker?.stop();
      await worker?.stop();
      await api?.stop();
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      const keys = await redis.keys(`${env['QUEUE_PREFIX']}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await database?.drop();
    });

    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    it('segments through the Redis queue once a worker runs, and the jobs enqueue and exit', async () => {
      const source = (await call('POST', '/event-sources', { name: 'web' })).body['id'] as string;
      const tracked = await call('POST', '/track', {
        source: { id: source },
        events: [{ type: 'purchase', properties: { value: 10 } }],
      });
      const profileId = (tracked.body['profile'] as { id: string }).id;
      const segment = (await call('POST', '/segments', { name: 'Everyone', condition: 'profile@active == true' }))
        .body as { id: string };

      // The API only enqueued: nobody has consumed yet.
      expect((await call('GET', `/segments/${segment.id}`)).body['memberCount']).toBe(0);
      worker = runMeridian(['worker', 'segmentation'], env);
      const members = await eventually(
        async () => (await call('GET', `/segments/${segment.id}`)).body['memberCount'],
        (count) => count === 1,
      );
      expect(members).toBe(1);

      const job = runMeridian(['job', 'segmentation'], env);
      expect(await job.exited).toBe(0);
      expect(job.output()).toMatch(/segmentation: 1 segments, 1 jobs enqueued/);

      const heartbeat = runMeridian(['job', 'heartbeat'], {
        ...env,
        QUALIFY_BY: 'profile-segmentation',
        RANGE: 'now-1h|now',
      });
      expect(await heartbeat.exited).toBe(0);

      const profile = await call('GET', `/profiles/${profileId}`);
      expect(profile.body['segments']).toEqual(['everyone']);
    });

    it('runs a mapping backfill from the CLI through the worker', async () => {
      const source = (await call('POST', '/event-sources', { name: 'shop' })).body['id'] as string;
      await call('POST', '/track', { source: { id: source }, events: [{ type: 'order', properties: { total: 99 } }] });
      const mapping = (
        await call('POST', '/mappings', {
          name: 'total',
          kind: 'event-props-to-traits',
          eventType: 'order',
          mapping: { 'properties.total': 'traits.total' },
        })
      ).body as { id: string };
      const backfill = runMeridian(['mapping', 'backfill', mapping.id], env);
      expect(await backfill.exited).toBe(0);
      const run = JSON.parse(backfill.output().trim().split('\n').pop()!) as { id: string };
      const finished = await eventually(
        async () => (await call('GET', `/jobs/${run.id}`)).body,
        (body) => body['state'] === 'done',
      );
      expect(finished).toMatchObject({ state: 'done', total: 1, done: 1 });
      const events = (await call('GET', '/events?type=order')).body['items'] as { traits: unknown }[];
      expect(events[0]!.traits).toEqual({ total: 99 });
    });

    it('executes workflow runs in `meridian worker workflow`, which tracks the events they raise', async () => {
      const source = (await call('POST', '/event-sources', { name: 'app' })).body['id'] as string;
      const flow = await call('POST', '/flows', {
        name: 'welcome',
        type: 'collection',
        graph: {
          nodes: [
            { id: 'start', action: 'start', config: {} },
            { id: 'set', action: 'set-value', config: { target: 'profile@traits.plan', value: 'trial' } },
            { id: 'raise', action: 'raise-event', config: { type: 'trial-started' } },
          ],
          edges: [
            { from: { node: 'start', port: 'payload' }, to: { node: 'set' } },
            { from: { node: 'set', port: 'payload' }, to: { node: 'raise' } },
          ],
        },
      });
      const flowId = flow.body['id'] as string;
      await call('POST', '/rules', { name: 'sign-up', kind: 'event', eventType: 'sign-up', flowId });
      const tracked = await call('POST', '/track', { source: { id: source }, events: [{ type: 'sign-up' }] });
      expect(tracked.status).toBe(200);
      const profileId = (tracked.body['profile'] as { id: string }).id;

      workflowWorker = runMeridian(['worker', 'workflow'], env);
      const runs = await eventually(
        async () => (await call('GET', `/flows/${flowId}/runs`)).body['items'] as { status: string }[],
        (items) => items[0]?.status === 'completed',
      );
      expect(runs).toHaveLength(1);
      expect((await call('GET', `/profiles/${profileId}`)).body['traits']).toEqual({ plan: 'trial' });
      const raised = await eventually(
        async () => (await call('GET', `/events?type=trial-started`)).body['items'] as { profile: { id: string } }[],
        (items) => items.length === 1,
      );
      expect(raised[0]!.profile.id).toBe(profileId);
    });
  },
);
