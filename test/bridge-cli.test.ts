/**
 * `meridian bridge KIND` as it is deployed: the compiled CLI (`npm run build` first) on PostgreSQL,
 * stopped by SIGTERM (it finishes and acknowledges what it holds) and killed with SIGKILL mid-stream
 * (the next process gets what it held): every message stored exactly once. MQTT is left out: its
 * broker keeps no message for a bridge that is not running (README, Bridges). Needs PostgreSQL and
 * the brokers (test/support/brokers.ts). `meridian bridge status`, run beside, shows the running bridge.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlEventSources } from '../src/storage/sql-event-sources.js';
import { BROKER_KITS } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { runMeridian } from './support/processes.js';
import { serviceAvailable } from './support/services.js';

const postgresUp = await postgresAvailable();
const kits = BROKER_KITS.filter((kit) => kit.type !== 'mqtt');
const available = new Map(
  await Promise.all(kits.map(async (kit) => [kit.type, await serviceAvailable(kit.name, kit.probe)] as const)),
);
const MESSAGES = 300;

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  if (!postgresUp) return;
  database = await createTestDatabase();
  db = connectPostgres({ url: database.url, schema: 'meridian_test' });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
  await database?.drop();
});

describe.each(kits)('meridian bridge $type', (kit) => {
  it.skipIf(!postgresUp || !available.get(kit.type))(
    'stops gracefully on SIGTERM and survives SIGKILL: every message stored once',
    async () => {
      const place = await kit.place({ prefetch: 20, batchSize: 20 });
      const sourceId = `cli-${randomUUID()}`;
      const source = { name: 'cli', description: '', enabled: true, type: kit.type, config: place.config };
      await new SqlEventSources(db).create({ id: sourceId, ...source });
      const stored = async () => {
        const [row] = await db.query<{ n: number; distinct: number }>(
          `SELECT count(*)::int AS n, count(DISTINCT properties->>'i')::int AS distinct
             FROM events WHERE source_id = $1 AND type = 'bridged'`,
          [sourceId],
        );
        return row!;
      };
      /** `meridian bridge status` until it shows this process's bridge connected. */
      const connectedInStatus = (pid: number | undefined) =>
        eventually(
          async () => {
            const command = runMeridian(['bridge', 'status'], { DATABASE_URL: database.url, PRODUCTION: 'no' });
            return { code: await command.exited, output: command.output() };
          },
          ({ output }) => new RegExp(`^${kit.type}\\s+${sourceId}\\s+\\S+:${pid}\\s+connected\\s`, 'm').test(output),
        );
      const bridge = () =>
        runMeridian(['bridge', kit.type], { DATABASE_URL: database.url, PRODUCTION: 'no', LOG_LEVEL: 'info' });
      try {
        await place.publish(
          Array.from({ length: MESSAGES }, (_, i) =>
            JSON.stringify({ events: [{ type: 'bridged', properties: { i } }] }),
          ),
        );
        const first = bridge();
        await eventually(stored, ({ n }) => n > 0);
        expect(await first.stop()).toBe(0);
        expect(first.output()).toContain('bridge stats');
        // What it held was stored and acknowledged before it exited.
        if (place.unacknowledged) expect(await place.unacknowledged()).toBe(0);

        const second = bridge();
        const before = (await stored()).n;
        await eventually(stored, ({ n }) => n > before);
        second.child.kill('SIGKILL');
        await second.exited;

        const third = bridge();
        // NATS redelivers what the killed bridge held once its ack wait is over.
        const final = await eventually(stored, ({ n }) => n >= MESSAGES, 60_000);
        // Running (it may have found nothing left to take), as another process reads its status.
        expect((await connectedInStatus(third.child.pid)).code).toBe(0);
        expect(await third.stop()).toBe(0);
        expect(final).toEqual({ n: MESSAGES, distinct: MESSAGES });
      } finally {
        await place.close();
      }
    },
    90_000,
  );
});
