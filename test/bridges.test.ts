/**
 * Each bridge against its real broker (test/support/brokers.ts says which): messages stored once and
 * acknowledged, refusals dead-lettered with their reason, a failed commit redelivered and stored once,
 * two bridges sharing one source without duplicates. The store is PGlite in memory.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAdapter } from '../src/bridges/adapters/index.js';
import type { BridgeCounters, Collector } from '../src/bridges/bridge.js';
import { startBridges, type RunningBridges } from '../src/bridges/run.js';
import { MappingCache } from '../src/mapping/cache.js';
import { createLogger } from '../src/shared/logger.js';
import type { Database } from '../src/storage/database.js';
import { SqlEventSources } from '../src/storage/sql-event-sources.js';
import { SqlMappings } from '../src/storage/sql-mappings.js';
import { SqlTrackingStore } from '../src/storage/sql-tracking-store.js';
import { SourceCache } from '../src/tracking/source-cache.js';
import { Tracker } from '../src/tracking/tracker.js';
import { BROKER_KITS, type BrokerKit, type BrokerPlace } from './support/brokers.js';
import { openTestDatabase } from './support/db.js';
import { TrackCommit } from '../src/tracking/commit.js';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import { eventually } from './support/eventually.js';
import { serviceAvailable } from './support/services.js';

const available = new Map(
  await Promise.all(BROKER_KITS.map(async (kit) => [kit.type, await serviceAvailable(kit.name, kit.probe)] as const)),
);

let db: Database & { dispose(): Promise<void> };
let sources: SqlEventSources;
let tracker: Tracker;

beforeAll(async () => {
  db = await openTestDatabase('pglite');
  sources = new SqlEventSources(db);
  tracker = new Tracker(
    new TrackCommit(new SqlTrackingStore(db), COMMIT_STEPS),
    new SourceCache(sources),
    new MappingCache(new SqlMappings(db)),
    {
      maxBatch: 100,
      maxWaitMs: 2,
      lanes: 1,
    },
  );
});
afterAll(async () => {
  await tracker?.drain();
  await db?.dispose();
});

const logger = createLogger('silent');
const message = (i: number) => JSON.stringify({ events: [{ type: 'bridged', properties: { i, run: randomUUID() } }] });
const messages = (n: number) => Array.from({ length: n }, (_, i) => message(i));

async function storedCount(sourceId: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM events WHERE source_id = $1 AND type = 'bridged'",
    [sourceId],
  );
  return row!.n;
}

/** One bridge of the test's source: its counters outlive its stop. */
interface Running {
  counters: BridgeCounters;
  stop(): Promise<void>;
}

interface Setup {
  place: BrokerPlace;
  sourceId: string;
  run(collector?: Collector): Promise<Running>;
}

async function withSource(
  kit: BrokerKit,
  test: (setup: Setup) => Promise<void>,
  settings: Record<string, unknown> = {},
): Promise<void> {
  const place = await kit.place({ prefetch: 5, batchSize: 5, ...settings });
  const sourceId = `bridge-${randomUUID()}`;
  await sources.create({
    id: sourceId,
    name: sourceId,
    description: '',
    enabled: true,
    type: kit.type,
    config: place.config,
  });
  const running: RunningBridges[] = [];
  try {
    await test({
      place,
      sourceId,
      run: async (collector = tracker) => {
        const bridges = await startBridges(
          { sources: { list: async () => [(await sources.get(sourceId))!] }, collector, logger, openAdapter },
          [kit.type],
          { statsIntervalMs: 0, refreshMs: 0, statusIntervalMs: 0 },
        );
        running.push(bridges);
        await bridges.ready();
        return { counters: bridges.bridges[0]!.counters, stop: () => bridges.stop() };
      },
    });
  } finally {
    await Promise.all(running.map((bridges) => bridges.stop()));
    await place.close();
  }
}

describe.each(BROKER_KITS)('$type bridge', (kit) => {
  const skip = !available.get(kit.type);

  it.skipIf(skip)('stores each message once and acknowledges it after the commit', async () => {
    await withSource(kit, async ({ place, sourceId, run }) => {
      const first = await run();
      await place.publish(messages(30));
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 30,
        ),
      ).toBe(30);
      await first.stop();
      expect(first.counters).toMatchObject({ received: 30, stored: 30, deadLettered: 0 });
      // Acknowledged: a bridge started afterwards gets only what is published afterwards.
      const second = await run();
      await place.publish([message(99)]);
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 31,
        ),
      ).toBe(31);
      expect(second.counters.received).toBe(1);
    });
  });

  it.skipIf(skip)('dead-letters what can never be stored, with the reason, and stores the rest', async () => {
    await withSource(kit, async ({ place, sourceId, run }) => {
      const running = await run();
      const bad = [
        'not json',
        JSON.stringify({ source: { id: 'no-such-source' }, events: [{ type: 'x' }] }),
        JSON.stringify({ events: [{ properties: {} }] }),
      ];
      await place.publish([bad[0]!, message(1), bad[1]!, bad[2]!]);
      const letters = await eventually(place.deadLetters, (found) => found.length >= 3);
      expect(letters.map((letter) => letter.body).sort()).toEqual([...bad].sort());
      const reasonOf = (body: string) => letters.find((letter) => letter.body === body)!.reason;
      expect(reasonOf(bad[0]!)).toMatch(/^validation_failed: message: not JSON/);
      expect(reasonOf(bad[1]!)).toMatch(/^invalid_source: event source "no-such-source"/);
      expect(reasonOf(bad[2]!)).toMatch(/^invalid_events: /);
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 1,
        ),
      ).toBe(1);
      expect(running.counters).toMatchObject({ deadLettered: 3, stored: 1 });
    });
  });

  it.skipIf(skip)('redelivers a message whose commit failed, and stores it once', async () => {
    await withSource(kit, async ({ place, sourceId, run }) => {
      let calls = 0;
      const flaky: Collector = {
        collect: async (payload, origin) => {
          const call = ++calls;
          if (call === 1) throw new Error('database down before the commit');
          const answer = await tracker.collect(payload, origin);
          if (call === 2) throw new Error('connection lost after the commit');
          return answer;
        },
      };
      const running = await run(flaky);
      await place.publish(messages(5));
      await eventually(
        async () => running.counters.stored,
        (n) => n === 5,
      );
      expect(running.counters).toMatchObject({ stored: 5, retried: 2, received: 7, deadLettered: 0 });
      expect(await storedCount(sourceId)).toBe(5);
    });
  });

  it.skipIf(skip)(
    'reads messages of format event: type, ids and properties where configured, a repeated id stored once',
    async () => {
      await withSource(
        kit,
        async ({ place, sourceId, run }) => {
          await run();
          // Event ids are the store's: each run uses its own.
          const [first, second] = [`order-${randomUUID()}`, `order-${randomUUID()}`].sort();
          const session = `checkout-${randomUUID()}`;
          const order = (id: string) => JSON.stringify({ id, kind: 'bridged', session, data: { total: 3 } });
          await place.publish([order(first!), order(second!), order(first!)]);
          const rows = await eventually(
            () =>
              db.query<{ id: string; properties: unknown; session_id: string }>(
                "SELECT id, properties, session_id FROM events WHERE source_id = $1 AND type = 'bridged' ORDER BY id",
                [sourceId],
              ),
            (found) => found.length === 2,
          );
          expect(rows).toEqual([
            { id: first, properties: { total: 3 }, session_id: session },
            { id: second, properties: { total: 3 }, session_id: session },
          ]);
        },
        {
          format: 'event',
          eventTypePath: 'kind',
          eventIdPath: 'id',
          sessionIdPath: 'session',
          propertiesPath: 'data',
        },
      );
    },
  );

  it.skipIf(skip || !kit.dropsConnections)('carries on after the broker drops its connections', async () => {
    await withSource(kit, async ({ place, sourceId, run }) => {
      await run();
      await place.publish(messages(10));
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 10,
        ),
      ).toBe(10);
      expect(await place.dropConnections!()).toBeGreaterThan(0);
      await place.publish(messages(10));
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 20,
          30_000,
        ),
      ).toBe(20);
    });
  });

  it.skipIf(skip)('two bridges share one source with no duplicates', async () => {
    await withSource(kit, async ({ place, sourceId, run }) => {
      const [a, b] = [await run(), await run()];
      await place.publish(messages(40));
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 40,
        ),
      ).toBe(40);
      await Promise.all([a.stop(), b.stop()]);
      expect(a.counters.received + b.counters.received).toBe(40);
      expect(a.counters.received).toBeGreaterThan(0);
      expect(b.counters.received).toBeGreaterThan(0);
    });
  });
});

const redisKit = BROKER_KITS.find((kit) => kit.type === 'redis-streams')!;

describe.skipIf(!available.get('redis-streams'))('the bridge runner', () => {
  it('serves a source added after it started, and stops serving it once disabled', async () => {
    const place = await redisKit.place({});
    const sourceId = `bridge-${randomUUID()}`;
    const ofThisTest = {
      list: async () => (await sources.list()).filter((source) => source.id === sourceId),
    };
    const running = await startBridges(
      { sources: ofThisTest, collector: tracker, logger, openAdapter },
      ['redis-streams'],
      { statsIntervalMs: 0, refreshMs: 0, statusIntervalMs: 0 },
    );
    try {
      expect(running.bridges).toHaveLength(0);
      const fields = { name: 'late', description: '', enabled: true, type: 'redis-streams', config: place.config };
      await sources.create({ id: sourceId, ...fields });
      await running.sync();
      await running.ready();
      await place.publish([message(1)]);
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 1,
        ),
      ).toBe(1);

      await sources.update(sourceId, { ...fields, enabled: false });
      await running.sync();
      expect(running.bridges).toHaveLength(0);
      await place.publish([message(2)]);
      await sources.update(sourceId, { ...fields, enabled: true, config: { ...place.config, prefetch: 7 } });
      await running.sync();
      await running.ready();
      expect(running.bridges[0]!.config.prefetch).toBe(7);
      expect(
        await eventually(
          () => storedCount(sourceId),
          (n) => n === 2,
        ),
      ).toBe(2);
    } finally {
      await running.stop();
      await place.close();
    }
  });
});
