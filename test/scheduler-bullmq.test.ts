/**
 * The scheduler in server mode (PostgreSQL + Redis): a BullMQ delayed job wakes the worker at the due
 * time, and when Redis loses the wake-ups the sweep still runs the items.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { SCHEDULER_WAKE } from '../src/scheduler/worker.js';
import { startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';
import { postgresAvailable } from './support/postgres.js';
import { serviceAvailable } from './support/services.js';

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

describe.skipIf(!redisUp || !postgresUp)('the scheduler on PostgreSQL and BullMQ', () => {
  let api: TestApi | undefined;
  let prefix = '';

  afterEach(async () => {
    await api?.close();
    api = undefined;
    await dropKeys(prefix);
  });

  async function dropKeys(pattern: string): Promise<void> {
    const redis = new Redis({ host: '127.0.0.1', port: 6379 });
    try {
      const keys = await redis.keys(`${pattern}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  }

  async function start(sweepSeconds: number): Promise<{ api: TestApi; profileId: string }> {
    prefix = `meridian-test-${randomUUID()}`;
    api = await startTestApi(
      'postgres',
      { REDIS_HOST: 'redis://127.0.0.1:6379', QUEUE_PREFIX: prefix, SCHEDULER_SWEEP_S: String(sweepSeconds) },
      { workers: ['scheduler'] },
    );
    const tracked = await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] });
    return { api, profileId: (tracked.json() as { profile: { id: string } }).profile.id };
  }

  const stateOf = async (api: TestApi, id: string) =>
    ((await api.admin({ method: 'GET', url: `/scheduled/${id}` })).json() as { state: string }).state;

  it('is woken by a delayed job at the due time, with no sweep to help', async () => {
    const { api, profileId } = await start(3600);
    const created = await api.admin({
      method: 'POST',
      url: '/scheduled',
      payload: { profileId, event: { type: 'woken' }, delay: '+1s' },
    });
    const { id } = created.json() as { id: string };
    expect(await api.runtime.queue.counts(SCHEDULER_WAKE)).toMatchObject({ delayed: 1 });
    expect(
      await eventually(
        () => stateOf(api, id),
        (state) => state === 'done',
      ),
    ).toBe('done');
  });

  it('runs an item whose wake-up Redis lost, through the sweep', async () => {
    const { api, profileId } = await start(1);
    const created = await api.admin({
      method: 'POST',
      url: '/scheduled',
      payload: { profileId, event: { type: 'lost-wake-up' }, delay: '+2s' },
    });
    const { id } = created.json() as { id: string };
    // As FLUSHALL would, for this test's keys only (other suites share the Redis).
    await dropKeys(prefix);
    expect(await api.runtime.queue.counts(SCHEDULER_WAKE)).toMatchObject({ delayed: 0 });
    expect(
      await eventually(
        () => stateOf(api, id),
        (state) => state === 'done',
      ),
    ).toBe('done');
  });
});
