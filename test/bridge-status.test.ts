/**
 * Bridge status as every process can read it: bridges publish a row each in the store, /healthcheck
 * (and `meridian bridge status`) read them. A Redis Streams bridge against the real Redis, and a
 * RabbitMQ bridge whose broker cannot be reached (port 1), so that it shows its last error. PGlite.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runConfiguredBridges } from '../src/cli/bridge.js';
import { createLogger } from '../src/shared/logger.js';
import type { BridgeStatusView } from '../src/bridges/status.js';
import { startTestApi, type TestApi } from './support/api.js';
import { BROKER_KITS } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { serviceAvailable } from './support/services.js';

const kit = BROKER_KITS.find((candidate) => candidate.type === 'redis-streams')!;
const available = await serviceAvailable(kit.name, kit.probe);

let api: TestApi;
beforeAll(async () => {
  if (available) api = await startTestApi('pglite');
});
afterAll(async () => {
  await api?.close();
});

const bridgesOnHealthcheck = async () => {
  const response = await api.app.inject({ method: 'GET', url: '/healthcheck' });
  expect(response.statusCode).toBe(200);
  return (response.json() as { bridges: BridgeStatusView[] }).bridges;
};

it.skipIf(!available)(
  'publishes each bridge’s connection, counters and last error, and removes them when it stops',
  async () => {
    const place = await kit.place({ prefetch: 5, batchSize: 5 });
    const create = (payload: Record<string, unknown>) => api.admin({ method: 'POST', url: '/event-sources', payload });
    const streams = `status-${randomUUID()}`;
    const rabbit = `status-${randomUUID()}`;
    expect((await create({ id: streams, name: 's', type: 'redis-streams', config: place.config })).statusCode).toBe(
      201,
    );
    const unreachable = { url: 'amqp://guest:guest@127.0.0.1:1', queue: `q-${randomUUID()}` };
    expect((await create({ id: rabbit, name: 'r', type: 'rabbitmq', config: unreachable })).statusCode).toBe(201);
    const bridges = await runConfiguredBridges(
      api.runtime.root,
      ['redis-streams', 'rabbitmq'],
      createLogger('silent'),
      {
        statsIntervalMs: 0,
        refreshMs: 0,
        statusIntervalMs: 100,
      },
    );
    try {
      await place.publish([
        ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ events: [{ type: 'bridged', properties: { i } }] })),
        'not json',
      ]);
      const seen = await eventually(
        bridgesOnHealthcheck,
        (rows) =>
          rows.some((row) => row.sourceId === streams && row.stored === 10 && row.deadLettered === 1) &&
          rows.some((row) => row.sourceId === rabbit && row.lastError !== null),
      );
      expect(seen.find((row) => row.sourceId === streams)).toMatchObject({
        kind: 'redis-streams',
        state: 'connected',
        received: 11,
        stale: false,
        lastError: null,
        pid: process.pid,
      });
      const down = seen.find((row) => row.sourceId === rabbit);
      expect(down).toMatchObject({ kind: 'rabbitmq', state: 'connecting', stored: 0 });
      expect(down?.lastError).toMatch(/ECONNREFUSED/);
    } finally {
      await bridges.stop();
      await place.close();
    }
    expect(await bridgesOnHealthcheck()).toEqual([]);
  },
  60_000,
);
