import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/storage/database.js';
import { createDeployment, createEventSource, type Deployment } from '../support/deployment.js';
import { eventually } from '../support/eventually.js';
import { postgresAvailable } from '../support/postgres.js';
import { runMeridian, type MeridianProcess } from '../support/processes.js';
import { redisServerAvailable, startOwnRedis, type OwnRedis } from '../support/redis-server.js';

/**
 * kill -9 of `meridian worker import` mid-run, with a second import worker started after it: BullMQ
 * hands the killed worker's job out again once its lock expires, the second worker takes the run over
 * (its lease ran out) from its checkpoint, and the run ends done with every row stored once, with no
 * resume by hand.
 */
const ROWS = 6000;
/** Hang guard for the redelivery: BullMQ gives a killed worker's job out again once its lock expires. */
const REDELIVERY_BOUND_MS = 240_000;

const postgresUp = await postgresAvailable();
const redisServerUp = await redisServerAvailable();

interface RunView {
  state: string;
  rowsRead: number;
  rowsStored: number;
  etaSeconds: number | null;
  waitingForWorker: boolean;
}

describe.skipIf(!postgresUp || !redisServerUp)('an import worker killed mid-run (server)', () => {
  let redis: OwnRedis | undefined;
  let deployment: Deployment | undefined;
  let store: Database | undefined;
  let worker: MeridianProcess | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    await worker?.stop();
    await store?.close();
    await deployment?.dispose();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is taken over by another worker once its lease runs out, storing every row once', async () => {
    redis = await startOwnRedis();
    deployment = await createDeployment('server', {
      REDIS_HOST: redis.url,
      QUEUE_PREFIX: `meridian-reliability-${randomUUID()}`,
      IMPORT_LEASE_S: '2',
      LOG_LEVEL: 'warn',
    });
    store = await deployment.openStore();
    await deployment.start();
    const sourceId = await createEventSource(deployment, 'import kill');
    dir = mkdtempSync(join(tmpdir(), 'meridian-import-worker-kill-'));
    const path = join(dir, 'rows.csv');
    writeFileSync(path, `id,who\n${Array.from({ length: ROWS }, (_, i) => `${i},w${i % 17}`).join('\n')}\n`);
    const created = await deployment.admin('POST', '/imports', {
      name: 'killed worker',
      source: { kind: 'csv', path },
      eventSourceId: sourceId,
      eventType: 'worker-killed',
      mapping: { profileId: 'who' },
      options: { batchSize: 100, rowsPerSecond: 1000 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await deployment.admin('POST', `/imports/${(created.body as { id: string }).id}/run`);
    expect(started.status).toBe(202);
    const runId = (started.body as { id: string }).id;
    const job = async () => (await deployment!.admin('GET', `/jobs/${runId}`)).body as RunView;

    const startWorker = () => runMeridian(['worker', 'import', '--concurrency', '1'], deployment!.env);
    worker = startWorker();
    await eventually(job, (view) => view.rowsRead >= 1000, REDELIVERY_BOUND_MS);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const atKill = await job();
    expect(atKill.rowsRead, 'the worker was killed before it had read every row').toBeLessThan(ROWS);
    // No worker renews its lease: the run says it waits for one, with no ETA.
    expect(await eventually(job, (view) => view.waitingForWorker, 10_000)).toMatchObject({
      state: 'running',
      etaSeconds: null,
    });

    worker = startWorker();
    const done = await eventually(job, (view) => view.state === 'done', REDELIVERY_BOUND_MS);
    expect(done).toMatchObject({ rowsRead: ROWS, rowsStored: ROWS, waitingForWorker: false });
    const [events] = await store.query<{ n: number; ids: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events WHERE type = 'worker-killed'`,
    );
    expect(events).toEqual({ n: ROWS, ids: ROWS });
    await worker.stop();
  });
});
