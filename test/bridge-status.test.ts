/**
 * Bridge status as every process can read it: bridges publish a row each in the store, /healthcheck
 * (and `meridian bridge status`) read them. A bridge per broker that is up (test/support/brokers.ts),
 * and a RabbitMQ bridge whose broker cannot be reached (port 1), so that it shows its last error. PGlite.
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

const kits = (
  await Promise.all(BROKER_KITS.map(async (kit) => ((await serviceAvailable(kit.name, kit.probe)) ? kit : undefined)))
).filter((kit) => kit !== undefined);
const available = kits.length > 0;

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
    const places = await Promise.all(
      kits.map(async (kit) => ({ kit, place: await kit.place({ prefetch: 5, batchSize: 5 }) })),
    );
    const create = (payload: Record<string, unknown>) => api.admin({ method: 'POST', url: '/event-sources', payload });
    const served = places.map(({ kit, place }) => ({ kit, place, sourceId: `status-${kit.type}-${randomUUID()}` }));
    for (const { kit, place, sourceId } of served)
      expect((await create({ id: sourceId, name: 's', type: kit.type, config: place.config })).statusCode).toBe(201);
    const rabbit = `status-${randomUUID()}`;
    const unreachable = { url: 'amqp://guest:guest@127.0.0.1:1', queue: `q-${randomUUID()}` };
    expect((await create({ id: rabbit, name: 'r', type: 'rabbitmq', config: unreachable })).statusCode).toBe(201);
    const kinds = [...new Set([...kits.map((kit) => kit.type), 'rabbitmq' as const])];
    const bridges = await runConfiguredBridges(api.runtime.root, kinds, createLogger('silent'), {
      statsIntervalMs: 0,
      refreshMs: 0,
      statusIntervalMs: 100,
    });
    try {
      // Connected (and so subscribed) before publishing: MQTT keeps nothing for a topic nobody listens to.
      await eventually(bridgesOnHealthcheck, (rows) =>
        served.every(({ sourceId }) => rows.some((row) => row.sourceId === sourceId && row.state === 'connected')),
      );
      for (const { place } of served)
        await place.publish([
          ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ events: [{ type: 'bridged', properties: { i } }] })),
          'not json',
        ]);
      const seen = await eventually(
        bridgesOnHealthcheck,
        (rows) =>
          served.every(({ sourceId }) =>
            rows.some((row) => row.sourceId === sourceId && row.stored === 10 && row.deadLettered === 1),
          ) && rows.some((row) => row.sourceId === rabbit && row.lastError !== null),
      );
      for (const { kit, sourceId } of served)
        expect(seen.find((row) => row.sourceId === sourceId)).toMatchObject({
          kind: kit.type,
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
      await Promise.all(served.map(({ place }) => place.close()));
    }
    expect(await bridgesOnHealthcheck()).toEqual([]);
  },
  60_000,
);
