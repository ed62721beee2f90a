import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDeployment,
  createEventSource,
  readAnswer,
  type Deployment,
  type HttpAnswer,
} from '../support/deployment.js';
import { eventually } from '../support/eventually.js';
import { postgresAvailable } from '../support/postgres.js';
import { runMeridian, type MeridianProcess } from '../support/processes.js';
import { redisServerAvailable, startOwnRedis, type OwnRedis } from '../support/redis-server.js';

/**
 * Server mode while its Redis is gone (killed) or hung (SIGSTOP): `/track` goes on answering and
 * storing (it needs only PostgreSQL), admin writes that queue work answer instead of waiting for the
 * outage to end, and once Redis is back the segmentation work is done without anyone stepping in.
 */
const VISITORS_PER_OUTAGE = 20;
/**
 * How long an admin call may take while Redis is down: far less than the outage, which lasts until
 * the call has answered or this bound has passed. Not a performance figure: a hang guard.
 */
const ADMIN_ANSWER_BOUND_MS = 8_000;
const EVERYONE = 'profile@active == true';

const postgresUp = await postgresAvailable();
const redisServerUp = await redisServerAvailable();

describe.skipIf(!postgresUp || !redisServerUp)('a Redis outage in server mode', () => {
  let redis: OwnRedis;
  let deployment: Deployment;
  let worker: MeridianProcess;
  let sourceId: string;
  const trackedProfiles: string[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    deployment = await createDeployment('server', {
      REDIS_HOST: redis.url,
      QUEUE_PREFIX: `meridian-reliability-${randomUUID()}`,
    });
    await deployment.start();
    worker = runMeridian(['worker', 'segmentation'], deployment.env);
    sourceId = await createEventSource(deployment, 'web');
    await trackVisitors(1);
    const everyone = await deployment.admin('POST', '/segments', {
      id: 'everyone',
      name: 'Everyone',
      condition: EVERYONE,
    });
    expect(everyone.status).toBe(201);
    expect(await members('everyone')).toBe(1);
  });

  afterAll(async () => {
    await worker?.stop();
    await deployment?.dispose();
    await redis?.stop();
  });

  async function trackVisitors(count: number): Promise<void> {
    const answers = await Promise.all(
      Array.from({ length: count }, async () => {
        const response = await fetch(`${deployment.url}/track`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: { id: sourceId }, events: [{ type: 'page-view', id: randomUUID() }] }),
        });
        return readAnswer(response);
      }),
    );
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    trackedProfiles.push(...answers.map((answer) => (answer.body as { profile: { id: string } }).profile.id));
  }

  /** The segment's member count once it reaches every profile tracked so far (or the last one read). */
  async function members(segmentId: string): Promise<unknown> {
    return eventually(
      async () =>
        (await deployment.admin('GET', `/segments/${segmentId}`)).body as { memberCount?: number } | undefined,
      (segment) => segment?.memberCount === trackedProfiles.length,
      60_000,
    ).then((segment) => segment?.memberCount);
  }

  /** The answer, or undefined when there was none within the bound; `settled` waits for it either way. */
  function bounded(call: Promise<HttpAnswer>): { answer: Promise<HttpAnswer | undefined>; settled: Promise<unknown> } {
    const settled = call.catch((error: unknown) => error);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), ADMIN_ANSWER_BOUND_MS)),
    );
    return { answer: Promise.race([call, timeout]).finally(() => clearTimeout(timer)), settled };
  }

  const outages = [
    { name: 'killed', begin: () => redis.kill(), end: () => redis.start() },
    { name: 'hung (SIGSTOP)', begin: async () => redis.pause(), end: async () => redis.resume() },
  ];

  it.each(outages)(
    'tracks on, answers admin writes within the bound and catches up on segmentation when Redis is $name',
    async ({ name, begin, end }) => {
      const segmentId = `created-while-${name.split(' ')[0]}`;
      await begin();
      let settled: Promise<unknown>[] = [];
      try {
        await trackVisitors(VISITORS_PER_OUTAGE);

        const health = await deployment.admin('GET', '/healthcheck');
        expect(health).toMatchObject({ status: 503, body: { storage: { ok: true }, queue: { ok: false } } });

        const created = bounded(
          deployment.admin('POST', '/segments', { id: segmentId, name: segmentId, condition: EVERYONE }),
        );
        const updated = bounded(
          deployment.admin('PUT', '/segments/everyone', {
            name: 'Everyone',
            condition: EVERYONE,
            description: `during ${name}`,
          }),
        );
        settled = [created.settled, updated.settled];
        const status = async (answer: Promise<HttpAnswer | undefined>) =>
          (await answer)?.status ?? `no answer within ${ADMIN_ANSWER_BOUND_MS} ms`;
        // Saved with the work queued for later, or refused at once as unavailable: anything but a wait.
        // Soft, so that a failure here still shows whether the work is caught up after the outage.
        expect.soft({ create: await status(created.answer), update: await status(updated.answer) }).toEqual({
          create: expect.toBeOneOf([201, 503]),
          update: expect.toBeOneOf([200, 503]),
        });
      } finally {
        await end();
        await Promise.all(settled);
      }

      const retried = await deployment.admin('GET', `/segments/${segmentId}`);
      if (retried.status === 404) {
        // A 503 meant "not saved": the client sends it again now that Redis is back.
        expect(
          (await deployment.admin('POST', '/segments', { id: segmentId, name: segmentId, condition: EVERYONE })).status,
        ).toBe(201);
      }
      expect({ everyone: await members('everyone'), created: await members(segmentId) }).toEqual({
        everyone: trackedProfiles.length,
        created: trackedProfiles.length,
      });
      const lastVisitor = await deployment.admin('GET', `/profiles/${trackedProfiles.at(-1)}`);
      expect((lastVisitor.body as { segments: string[] }).segments).toEqual(
        expect.arrayContaining(['everyone', segmentId]),
      );
      expect(worker.child.exitCode, `the worker exited:\n${worker.output()}`).toBeNull();

      const events = await deployment.admin('GET', '/events?type=page-view&limit=500');
      expect((events.body as { items: unknown[] }).items).toHaveLength(trackedProfiles.length);
    },
  );
});
