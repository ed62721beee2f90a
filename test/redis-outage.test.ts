/**
 * Admin writes during a Redis outage, on a redis-server of the test's own (frozen with SIGSTOP, as a
 * hung server; killed, as a refused connection) and PostgreSQL. No timing is asserted: each call must
 * answer while the outage lasts, and the work must be done once Redis is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { startApi, type ApiRuntime } from '../src/cli/composition.js';
import { SqlSegments } from '../src/storage/sql-segments.js';
import { TEST_TOKEN } from './support/api.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { redisServerAvailable, startOwnRedis, type OwnRedis } from './support/redis-server.js';

const ready = (await redisServerAvailable()) && (await postgresAvailable());
const logger = pino({ level: 'silent' });
const WORKERS = { concurrency: 1, pendingIntervalMs: 100, resegmentSweepMs: 300, triggerIntervalMs: 0 };

describe.skipIf(!ready)('admin writes while Redis is down', () => {
  let redis: OwnRedis;
  let database: TestDatabase;
  let config: ReturnType<typeof loadConfig>;
  const runtimes: ApiRuntime[] = [];
  beforeAll(async () => {
    redis = await startOwnRedis();
    database = await createTestDatabase();
    config = loadConfig({
      API_TOKEN: TEST_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      REDIS_HOST: redis.url,
      QUEUE_PREFIX: `meridian-outage-${randomUUID()}`,
    });
  });
  afterAll(async () => {
    redis?.resume();
    for (const runtime of runtimes) await runtime.close();
    await redis?.stop();
    await database?.drop();
  });

  const start = async (workers: boolean) => {
    const runtime = await startApi(
      config,
      logger,
      workers ? { workers: ['segmentation'], workerOptions: WORKERS } : {},
    );
    runtimes.push(runtime);
    const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      runtime.app.inject({ method, url, payload, headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    return { runtime, admin };
  };
  const members = async (runtime: ApiRuntime, segmentId: string) =>
    (
      await runtime.db.query<{ profile_id: string }>(
        'SELECT profile_id FROM segment_members WHERE segment_id = $1 AND left_at IS NULL',
        [segmentId],
      )
    ).map((row) => row.profile_id);

  it('answers saves while Redis hangs, and re-decides the members once it is back', async () => {
    const { runtime, admin } = await start(true);
    const source = (await admin('POST', '/event-sources', { name: 'outage' })).json() as { id: string };
    const tracked = await runtime.app.inject({
      method: 'POST',
      url: '/track',
      payload: { source, events: [{ type: 'page-view' }] },
    });
    const profileId = (tracked.json() as { profile: { id: string } }).profile.id;

    redis.pause();
    const created = await admin('POST', '/segments', { name: 'Frozen', condition: 'profile@active == true' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ resegmentPending: true });
    const { id } = created.json() as { id: string };
    const changed = await admin('PUT', `/segments/${id}`, {
      name: 'Frozen',
      condition: 'profile@metadata.time.visit.count >= 1',
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ resegmentPending: true });
    // Tracking goes on meanwhile.
    expect(
      (
        await runtime.app.inject({
          method: 'POST',
          url: '/track',
          payload: { source, events: [{ type: 'page-view' }] },
        })
      ).statusCode,
    ).toBe(200);
    const stillFrozen = await admin('GET', `/segments/${id}`);
    expect(stillFrozen.json()).toMatchObject({ resegmentPending: true });
    redis.resume();

    const settled = await eventually(
      () =>
        admin('GET', `/segments/${id}`).then(
          (response) => response.json() as { resegmentPending: boolean; lastRunAt: string | null },
        ),
      (segment) => !segment.resegmentPending && segment.lastRunAt !== null,
    );
    expect(settled).toMatchObject({ resegmentPending: false, lastRunAt: expect.any(String) });
    expect(
      await eventually(
        () => members(runtime, id),
        (ids) => ids.includes(profileId),
      ),
    ).toContain(profileId);
    await runtime.close();
    runtimes.splice(runtimes.indexOf(runtime), 1);
  });

  it('keeps a save made while Redis refuses connections until a worker queues it, even after the API is gone', async () => {
    const { runtime: api, admin } = await start(false);
    const source = (await admin('POST', '/event-sources', { name: 'refused' })).json() as { id: string };
    const tracked = await api.app.inject({
      method: 'POST',
      url: '/track',
      payload: { source, events: [{ type: 'page-view' }] },
    });
    const profileId = (tracked.json() as { profile: { id: string } }).profile.id;

    await redis.kill();
    const created = await admin('POST', '/segments', { name: 'Refused', condition: 'profile@active == true' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ resegmentPending: true });
    const { id } = created.json() as { id: string };
    // A backfill has nothing that would queue its batches later: it is refused, and says why.
    const mapping = await admin('POST', '/mappings', {
      name: 'Copy',
      kind: 'event-props-to-traits',
      eventType: 'page-view',
      mapping: { 'properties.url': 'traits.url' },
    });
    expect(mapping.statusCode).toBe(201);
    const backfill = await admin('POST', `/mappings/${(mapping.json() as { id: string }).id}/backfill`, {});
    expect(backfill.statusCode).toBe(503);
    expect(backfill.json()).toMatchObject({ error: 'queue_unavailable' });
    await api.close();
    runtimes.splice(runtimes.indexOf(api), 1);

    await redis.start();
    const { runtime: worker } = await start(true);
    const segments = new SqlSegments(worker.db);
    // Queued by the worker's sweep (nothing else marks the ask queued), then run: lastRunAt is only
    // set by the queued full run, not by post-event segmentation.
    const done = await eventually(
      () => segments.get(id),
      (segment) => segment?.resegmentPending === false && segment.lastRunAt !== null,
    );
    expect(done).toMatchObject({ resegmentPending: false, lastRunAt: expect.any(String) });
    expect(await members(worker, id)).toContain(profileId);
  });
});
