/**
 * `meridian bridge redis-streams` as it is deployed: the compiled CLI (`npm run build` first) on
 * PostgreSQL, stopped by SIGTERM (it finishes and acknowledges what it holds) and killed with
 * SIGKILL mid-stream (another process takes over what it held): every message stored exactly once.
 * Needs PostgreSQL and Redis.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlEventSources } from '../src/storage/sql-event-sources.js';
import { BROKER_KITS, type BrokerPlace } from './support/brokers.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { runMeridian } from './support/processes.js';
import { serviceAvailable } from './support/services.js';

const kit = BROKER_KITS.find((candidate) => candidate.type === 'redis-streams')!;
const ready = (await postgresAvailable()) && (await serviceAvailable(kit.name, kit.probe));
const MESSAGES = 300;

describe.skipIf(!ready)('meridian bridge redis-streams', () => {
  let database: TestDatabase;
  let db: Database;
  let place: BrokerPlace;
  let redis: Redis;
  const sourceId = `cli-${randomUUID()}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = connectPostgres({ url: database.url, schema: 'meridian_test' });
    await migrate(db);
    place = await kit.place({ prefetch: 20, batchSize: 20 });
    redis = new Redis(String(place.config['url']));
    await new SqlEventSources(db).create({
      id: sourceId,
      name: 'cli',
      description: '',
      enabled: true,
      type: 'redis-streams',
      config: place.config,
    });
  });
  afterAll(async () => {
    redis?.disconnect();
    await place?.close();
    await db?.close();
    await database?.drop();
  });

  const stored = async () => {
    const [row] = await db.query<{ n: number; distinct: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT properties->>'i')::int AS distinct
         FROM events WHERE source_id = $1 AND type = 'bridged'`,
      [sourceId],
    );
    return row!;
  };
  const bridge = () =>
    runMeridian(['bridge', 'redis-streams'], { DATABASE_URL: database.url, PRODUCTION: 'no', LOG_LEVEL: 'info' });

  it('stops gracefully on SIGTERM and survives SIGKILL: every message stored once', async () => {
    await place.publish(
      Array.from({ length: MESSAGES }, (_, i) => JSON.stringify({ events: [{ type: 'bridged', properties: { i } }] })),
    );
    const first = bridge();
    await eventually(stored, ({ n }) => n > 0);
    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('bridge stats');
    // What it held was stored and acknowledged before it exited.
    const [pending] = (await redis.xpending(String(place.config['stream']), 'meridian')) as [number];
    expect(pending).toBe(0);

    const second = bridge();
    const before = (await stored()).n;
    await eventually(stored, ({ n }) => n > before);
    second.child.kill('SIGKILL');
    await second.exited;

    const third = bridge();
    const final = await eventually(stored, ({ n }) => n >= MESSAGES, 60_000);
    expect(await third.stop()).toBe(0);
    expect(final).toEqual({ n: MESSAGES, distinct: MESSAGES });
  });
});
