import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/storage/database.js';
import { createDeployment, type Deployment } from '../support/deployment.js';
import { eventually } from '../support/eventually.js';
import { postgresAvailable } from '../support/postgres.js';
import { runMeridian, type MeridianProcess } from '../support/processes.js';
import { redisServerAvailable, startOwnRedis, type OwnRedis } from '../support/redis-server.js';

/**
 * kill -9 of `meridian worker segmentation trigger` while it decides a segment's profiles, range job
 * after range job, then a restart: BullMQ hands the killed worker's job out again, and every profile
 * ends up a member once, with one `entered` change and one recorded run of the segment's rule.
 */
const PROFILES = 100_000;
/** Hang guard for the redelivery: BullMQ gives a killed worker's job out again once its lock expires. */
const REDELIVERY_BOUND_MS = 240_000;

const postgresUp = await postgresAvailable();
const redisServerUp = await redisServerAvailable();

describe.skipIf(!postgresUp || !redisServerUp)('a segmentation worker killed mid-run (server)', () => {
  let redis: OwnRedis | undefined;
  let deployment: Deployment | undefined;
  let store: Database | undefined;
  let worker: MeridianProcess | undefined;
  afterAll(async () => {
    await worker?.stop();
    await store?.close();
    await deployment?.dispose();
    await redis?.stop();
  });

  const counts = async (sql: string) => (await store!.query<{ n: number; distinct: number }>(sql, ['everyone']))[0]!;
  const members = () =>
    counts(
      `SELECT count(*)::int AS n, count(DISTINCT profile_id)::int AS distinct
         FROM segment_members WHERE segment_id = $1 AND left_at IS NULL`,
    );
  const entered = () =>
    counts(
      `SELECT count(*)::int AS n, count(DISTINCT profile_id)::int AS distinct
         FROM segment_changes WHERE segment_id = $1 AND change = 'entered'`,
    );
  const runs = () =>
    counts(
      `SELECT count(*)::int AS n, count(DISTINCT change_seq)::int AS distinct
         FROM workflow_runs WHERE rule_id = $1 || '-entered'`,
    );
  const startWorker = () => runMeridian(['worker', 'segmentation', 'trigger', '--concurrency', '1'], deployment!.env);

  it('decides every profile once after a restart: one membership, one change, one run each', async () => {
    redis = await startOwnRedis();
    deployment = await createDeployment('server', {
      REDIS_HOST: redis.url,
      QUEUE_PREFIX: `meridian-reliability-${randomUUID()}`,
      LOG_LEVEL: 'warn',
    });
    store = await deployment.openStore();
    await store.query(
      `INSERT INTO profiles (id, traits)
       SELECT 'p-' || lpad(i::text, 6, '0'), jsonb_build_object('n', i) FROM generate_series(1, $1::int) AS i`,
      [PROFILES],
    );
    await deployment.start();
    // Queued with no worker running: its range jobs wait in Redis for the worker.
    const segment = await deployment.admin('POST', '/segments', {
      id: 'everyone',
      name: 'Everyone',
      condition: 'profile@traits.n > 0',
    });
    expect(segment.status).toBe(201);
    await store.query(
      `INSERT INTO flows (id, name, type, graph) VALUES ('on-entry', 'on entry', 'segmentation', '{"nodes":[],"edges":[]}')`,
    );
    await store.query(
      `INSERT INTO rules (id, name, kind, segment_id, flow_id) VALUES ($1 || '-entered', 'on entry', 'segment-entered', $1, 'on-entry')`,
      ['everyone'],
    );

    worker = startWorker();
    const before = await eventually(members, (now) => now.n > 0, REDELIVERY_BOUND_MS);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const atKill = await members();
    expect(before.n, 'members when the first range job had committed').toBeGreaterThan(0);
    expect(atKill.n, 'the worker was killed before it had decided every profile').toBeLessThan(PROFILES);

    worker = startWorker();
    const complete = (now: { n: number }) => now.n >= PROFILES;
    expect(await eventually(members, complete, REDELIVERY_BOUND_MS)).toEqual({ n: PROFILES, distinct: PROFILES });
    expect(await entered()).toEqual({ n: PROFILES, distinct: PROFILES });
    expect(await eventually(runs, complete, REDELIVERY_BOUND_MS)).toEqual({ n: PROFILES, distinct: PROFILES });
    await worker.stop();
  });
});
