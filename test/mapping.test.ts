/** Mapping storage and backfills on PGlite and PostgreSQL (the latter needs the PostgreSQL service). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  BATCH_ATTEMPTS,
  QUEUE_OF,
  resumeBackfills,
  runBackfillBatch,
  startBackfill,
  startMappingWorkers,
  type BackfillDeps,
} from '../src/mapping/backfill.js';
import type { MappingInput } from '../src/mapping/mapping.js';
import type { BackfillStore } from '../src/mapping/ports.js';
import { MemoryJobQueue } from '../src/queue/memory.js';
import type { JobQueue } from '../src/queue/port.js';
import type { Database } from '../src/storage/database.js';
import { migrate } from '../src/storage/migrate.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { SqlJobRuns } from '../src/storage/sql-job-runs.js';
import { SqlMappingBackfills } from '../src/storage/sql-mapping-backfill.js';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import { recordAppliedMappings, SqlMappings } from '../src/storage/sql-mappings.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { createTestDatabase, postgresAvailable } from './support/postgres.js';

const logger = pino({ level: 'silent' });
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

interface SeedEvent {
  type: string;
  profile: string;
  properties: Record<string, unknown>;
  day?: number;
}

let seeded = 0;
async function seedEvents(db: Database, events: SeedEvent[]): Promise<string[]> {
  const ids = events.map(() => `ev-${String(++seeded).padStart(5, '0')}`);
  await db.query(
    `INSERT INTO events (id, type, profile_id, session_id, source_id, properties, occurred_at)
     SELECT r.id, r.type, r.profile, 'session-1', 'source-1', r.properties, r.occurred_at
       FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, type text, profile text, properties jsonb, occurred_at timestamptz)`,
    [
      JSON.stringify(
        events.map((event, i) => ({ ...event, id: ids[i], occurred_at: new Date(T0 + (event.day ?? 0) * DAY) })),
      ),
    ],
  );
  return ids;
}

async function seedProfiles(db: Database, ids: string[]): Promise<void> {
  await db.query(`INSERT INTO profiles (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [ids]);
}

/** Waits until the mapping queues have nothing left to run. */
async function drain(queue: JobQueue): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const counts = await Promise.all(Object.values(QUEUE_OF).map((name) => queue.counts(name)));
    if (counts.every((c) => c.waiting + c.active + c.delayed === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('mapping queues did not drain');
}

const purchaseToProfile = (id: string, extra: Partial<MappingInput> = {}): MappingInput & { id: string } =>
  ({
    id,
    name: id,
    kind: 'event-to-profile',
    eventType: 'purchase',
    enabled: true,
    condition: null,
    mapping: [
      { event: 'properties.amount', profile: 'stats.spent', op: 'increment' },
      { event: 'properties.sku', profile: 'data.skus', op: 'append' },
    ],
    ...extra,
  }) as MappingInput & { id: string };

function context(db: Database, batchSize: number) {
  const mappings = new SqlMappings(db);
  const backfills = new SqlMappingBackfills(db, COMMIT_STEPS);
  const jobRuns = new SqlJobRuns(db);
  const queue = new MemoryJobQueue({ logger });
  const deps: BackfillDeps = { mappings, backfills, queue, logger, batchSize };
  /** Runs the backfill to the end through the workers. */
  const runToEnd = async (mappingId: string, range = {}) => {
    const runId = await startBackfill(deps, mappingId, range);
    const worker = startMappingWorkers(deps, { concurrency: 2 });
    await drain(queue);
    await worker.close();
    return (await jobRuns.get(runId))!;
  };
  return { mappings, backfills, jobRuns, queue, deps, runToEnd };
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`mappings on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
    });
    afterAll(async () => db?.dispose());

    const profileOf = async (id: string) =>
      (
        await db.query<{ stats: Record<string, unknown>; data: Record<string, unknown>; version: number }>(
          'SELECT stats, data, version FROM profiles WHERE id = $1',
          [id],
        )
      )[0]!;
    const traitsOf = async (ids: string[]) =>
      (
        await db.query<{ traits: Record<string, unknown> }>(
          'SELECT traits FROM events WHERE id = ANY($1::text[]) ORDER BY seq',
          [ids],
        )
      ).map((row) => row.traits);

    it('stores, lists, changes and deletes mappings; deleting forgets their applied markers', async () => {
      const { mappings } = context(db, 10);
      const created = (await mappings.create(purchaseToProfile('crud')))!;
      expect(created).toMatchObject({
        id: 'crud',
        kind: 'event-to-profile',
        eventType: 'purchase',
        enabled: true,
        condition: null,
      });
      expect(await mappings.create(purchaseToProfile('crud'))).toBeUndefined();
      expect(await mappings.get('crud')).toEqual(created);
      const props: MappingInput = {
        name: 'price',
        kind: 'event-props-to-traits',
        eventType: 'purchase',
        enabled: false,
        condition: null,
        mapping: { 'properties.price': 'traits.price' },
      };
      const updated = (await mappings.update('crud', props))!;
      expect(updated).toMatchObject({ ...props, id: 'crud' });
      expect((await mappings.list()).map((m) => m.id)).toContain('crud');
      expect((await mappings.listEnabled()).map((m) => m.id)).not.toContain('crud');
      await db.transaction((tx) =>
        recordAppliedMappings(tx, [
          { mappingId: 'crud', eventId: 'e1' },
          { mappingId: 'crud', eventId: 'e1' },
        ]),
      );
      expect(await mappings.delete('crud')).toBe(true);
      expect(await mappings.delete('crud')).toBe(false);
      expect(await db.query(`SELECT * FROM mapping_applied WHERE mapping_id = 'crud'`)).toEqual([]);
    });

    it('copies properties to traits over history, honouring the current mapping, the same values on a re-run', async () => {
      const { mappings, jobRuns, deps, runToEnd } = context(db, 10);
      const purchases = await seedEvents(
        db,
        Array.from({ length: 25 }, (_, i) => ({
          type: 'order',
          profile: 'p-t',
          properties: { price: i, currency: 'EUR' },
        })),
      );
      const views = await seedEvents(db, [{ type: 'page-view', profile: 'p-t', properties: { price: 1 } }]);
      await mappings.create({
        id: 'price',
        name: 'price',
        kind: 'event-props-to-traits',
        eventType: 'order',
        enabled: true,
        condition: null,
        mapping: { 'properties.price': 'traits.price' },
      });

      const runId = await startBackfill(deps, 'price');
      expect(await jobRuns.get(runId)).toMatchObject({
        kind: 'event-props-to-traits',
        subject: 'price',
        state: 'queued',
        total: 25,
        done: 0,
        batches: 3,
        batchesDone: 0,
        finishedAt: null,
      });
      const worker = startMappingWorkers(deps, { concurrency: 2 });
      await drain(deps.queue);
      await worker.close();
      const run = (await jobRuns.get(runId))!;
      expect(run).toMatchObject({ state: 'done', total: 25, done: 25, errors: 0, batches: 3, batchesDone: 3 });
      expect(run.finishedAt).not.toBeNull();
      expect(await traitsOf(purchases)).toEqual(purchases.map((_, i) => ({ price: i })));
      expect(await traitsOf(views)).toEqual([{}]);

      await mappings.update('price', {
        name: 'price',
        kind: 'event-props-to-traits',
        eventType: 'order',
        enabled: true,
        condition: null,
        mapping: { 'properties.price': 'traits.price', 'properties.currency': 'traits.currency' },
      });
      await runToEnd('price');
      await runToEnd('price');
      expect(await traitsOf(purchases)).toEqual(purchases.map((_, i) => ({ price: i, currency: 'EUR' })));
    });

    it('applies event-to-profile once per event: a redelivered batch, a killed run and a re-run change nothing twice', async () => {
      const { mappings, backfills, jobRuns, queue, deps, runToEnd } = context(db, 7);
      const profiles = ['p-a', 'p-b', 'p-c'];
      await seedProfiles(db, profiles);
      // 30 purchases of 1..30, spread over the three profiles; page views are not purchases.
      const events = Array.from({ length: 30 }, (_, i) => ({
        type: 'purchase',
        profile: profiles[i % 3]!,
        properties: { amount: i + 1, sku: `sku-${i % 2}` },
      }));
      await seedEvents(db, [...events, { type: 'page-view', profile: 'p-a', properties: { amount: 1000 } }]);
      await mappings.create(purchaseToProfile('spend'));
      const expected = profiles.map((_, p) =>
        events.filter((_, i) => i % 3 === p).reduce((sum, event) => sum + event.properties.amount, 0),
      );

      const runId = await startBackfill(deps, 'spend');
      expect(await jobRuns.get(runId)).toMatchObject({ state: 'queued', total: 30, batches: 5 });
      // A worker takes two batches and dies; one of them is delivered again.
      for (const batch of [0, 1])
        await runBackfillBatch(deps, { data: { runId, mappingId: 'spend', batch }, attempt: 1 });
      expect(await jobRuns.get(runId)).toMatchObject({ state: 'running', done: 14, batchesDone: 2 });
      const before = await profileOf('p-a');
      expect(
        await backfills.runBatch({ runId, mappingId: 'spend', batch: 1 }, await mappings.get('spend')),
      ).toBeUndefined();
      expect(await profileOf('p-a')).toEqual(before);

      // Another worker starts: it finds all five jobs still queued, two of them already done.
      const worker = startMappingWorkers(deps, { concurrency: 3 });
      await drain(queue);
      await worker.close();
      expect(await jobRuns.get(runId)).toMatchObject({ state: 'done', total: 30, done: 30, batchesDone: 5, errors: 0 });
      for (const [p, id] of profiles.entries()) {
        expect((await profileOf(id)).stats).toEqual({ spent: expected[p] });
        expect((await profileOf(id)).data).toEqual({ skus: p === 1 ? ['sku-1', 'sku-0'] : ['sku-0', 'sku-1'] });
      }

      const again = await runToEnd('spend');
      expect(again).toMatchObject({ state: 'done', total: 30, done: 30 });
      for (const [p, id] of profiles.entries()) expect((await profileOf(id)).stats).toEqual({ spent: expected[p] });
    });

    it('queues the profiles a backfill changed for post-event segmentation while a segment is enabled', async () => {
      const { mappings, runToEnd } = context(db, 10);
      await seedProfiles(db, ['p-seg-changed', 'p-seg-untouched']);
      await seedEvents(db, [
        { type: 'seg-purchase', profile: 'p-seg-changed', properties: { amount: 5, sku: 'sku-0' } },
      ]);
      await mappings.create({ ...purchaseToProfile('seg-spend'), eventType: 'seg-purchase' });
      await db.query(
        `INSERT INTO segments (id, name, machine_name, condition) VALUES ('seg-any', 'any', 'seg-any', 'profile@id EXISTS')`,
      );
      try {
        expect(await runToEnd('seg-spend')).toMatchObject({ state: 'done', done: 1 });
        const pending = await db.query<{ profile_id: string; event_types: string[] }>(
          `SELECT profile_id, event_types FROM segmentation_pending WHERE profile_id LIKE 'p-seg-%'`,
        );
        expect(pending).toEqual([{ profile_id: 'p-seg-changed', event_types: ['seg-purchase'] }]);
      } finally {
        await db.query(`DELETE FROM segments WHERE id = 'seg-any'`);
        await db.query(`DELETE FROM segmentation_pending WHERE profile_id LIKE 'p-seg-%'`);
      }
    });

    it('skips events already mapped at collection time, resolves merged profile ids, and gates by condition', async () => {
      const { mappings, runToEnd } = context(db, 100);
      await seedProfiles(db, ['p-merged-into']);
      await db.query(`UPDATE profiles SET ids = '{p-old}', traits = '{"tier": "gold"}' WHERE id = 'p-merged-into'`);
      await seedProfiles(db, ['p-bronze']);
      const [collected, viaOldId] = await seedEvents(db, [
        { type: 'refund', profile: 'p-merged-into', properties: { amount: 5 } },
        { type: 'refund', profile: 'p-old', properties: { amount: 7 } },
        { type: 'refund', profile: 'p-bronze', properties: { amount: 9 } },
      ]);
      await mappings.create(
        purchaseToProfile('refunds', {
          eventType: 'refund',
          condition: 'profile@traits.tier == "gold"',
          mapping: [{ event: 'properties.amount', profile: 'stats.refunded', op: 'increment' }],
        }),
      );
      // Tracking applied the mapping to the first event when it was collected.
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE profiles SET stats = '{"refunded": 5}' WHERE id = 'p-merged-into'`);
        await recordAppliedMappings(tx, [{ mappingId: 'refunds', eventId: collected! }]);
      });
      expect(await runToEnd('refunds')).toMatchObject({ state: 'done', done: 3 });
      expect((await profileOf('p-merged-into')).stats).toEqual({ refunded: 12 });
      expect((await profileOf('p-bronze')).stats).toEqual({});
      const markers = await db.query<{ event_id: string }>(
        `SELECT event_id FROM mapping_applied WHERE mapping_id = 'refunds' ORDER BY 1`,
      );
      expect(markers.map((row) => row.event_id)).toEqual([collected, viaOldId].sort());

      // The condition now holds for the bronze profile too: a re-run applies just that event.
      await db.query(`UPDATE profiles SET traits = '{"tier": "gold"}' WHERE id = 'p-bronze'`);
      await runToEnd('refunds');
      expect((await profileOf('p-bronze')).stats).toEqual({ refunded: 9 });
      expect((await profileOf('p-merged-into')).stats).toEqual({ refunded: 12 });
    });

    it('bounds a backfill by occurred_at, and counts events it cannot map as errors', async () => {
      const { mappings, runToEnd } = context(db, 100);
      await seedProfiles(db, ['p-range', 'p-broken']);
      await db.query(`UPDATE profiles SET data = '{"visits": "not an object"}' WHERE id = 'p-broken'`);
      await seedEvents(
        db,
        [0, 1, 2, 3].map((day) => ({ type: 'visit', profile: 'p-range', properties: { n: 1 }, day })),
      );
      await seedEvents(db, [{ type: 'visit', profile: 'p-broken', properties: { n: 1 }, day: 1 }]);
      await mappings.create(
        purchaseToProfile('visits', {
          eventType: 'visit',
          mapping: [{ profile: 'data.visits.count', op: 'increment' }],
        }),
      );
      const run = await runToEnd('visits', { from: new Date(T0 + DAY), to: new Date(T0 + 3 * DAY) });
      expect(run).toMatchObject({ state: 'done', total: 3, done: 3, errors: 1 });
      expect((await profileOf('p-range')).data).toEqual({ visits: { count: 2 } });
      expect((await profileOf('p-broken')).data).toEqual({ visits: 'not an object' });
    });

    it('resumes unfinished runs after their queued jobs were lost, and after a failure', async () => {
      const first = context(db, 4);
      await seedProfiles(db, ['p-resume']);
      await seedEvents(
        db,
        Array.from({ length: 10 }, () => ({ type: 'signup', profile: 'p-resume', properties: {} })),
      );
      await first.mappings.create(
        purchaseToProfile('signups', { eventType: 'signup', mapping: [{ profile: 'stats.signups', op: 'increment' }] }),
      );
      const runId = await startBackfill(first.deps, 'signups');
      await runBackfillBatch(first.deps, { data: { runId, mappingId: 'signups', batch: 2 }, attempt: 1 });
      // The last attempt of another batch fails: the run is marked failed.
      const failing = Object.assign(Object.create(first.backfills) as BackfillStore, {
        runBatch: () => Promise.reject(new Error('disk full')),
      });
      await expect(
        runBackfillBatch(
          { ...first.deps, backfills: failing },
          { data: { runId, mappingId: 'signups', batch: 0 }, attempt: BATCH_ATTEMPTS },
        ),
      ).rejects.toThrow('disk full');
      expect(await first.jobRuns.get(runId)).toMatchObject({ state: 'failed', lastError: 'disk full', batchesDone: 1 });
      await first.queue.close(); // the process ends: its in-memory jobs are gone

      const second = context(db, 4);
      expect(await resumeBackfills(second.deps)).toBe(2);
      const worker = startMappingWorkers(second.deps, { concurrency: 1 });
      await drain(second.queue);
      await worker.close();
      expect(await second.jobRuns.get(runId)).toMatchObject({ state: 'done', done: 10, batchesDone: 3 });
      expect((await profileOf('p-resume')).stats).toEqual({ signups: 10 });
    });

    it('refuses to backfill a missing or disabled mapping, and finishes an empty run at once', async () => {
      const { mappings, jobRuns, deps } = context(db, 10);
      await expect(startBackfill(deps, 'nope')).rejects.toMatchObject({ code: 'not_found' });
      await mappings.create(purchaseToProfile('off', { enabled: false }));
      await expect(startBackfill(deps, 'off')).rejects.toMatchObject({ code: 'mapping_disabled' });
      await mappings.create(purchaseToProfile('empty', { eventType: 'never-tracked' }));
      const run = await jobRuns.get(await startBackfill(deps, 'empty'));
      expect(run).toMatchObject({ state: 'done', total: 0, batches: 0 });
      expect(run?.finishedAt).not.toBeNull();
      await deps.queue.close();
    });

    it('skips the remaining batches of a mapping deleted mid-run', async () => {
      const { mappings, jobRuns, deps, queue } = context(db, 2);
      await seedProfiles(db, ['p-deleted']);
      await seedEvents(
        db,
        Array.from({ length: 4 }, () => ({ type: 'deleted-type', profile: 'p-deleted', properties: {} })),
      );
      await mappings.create(
        purchaseToProfile('short-lived', {
          eventType: 'deleted-type',
          mapping: [{ profile: 'stats.n', op: 'increment' }],
        }),
      );
      const runId = await startBackfill(deps, 'short-lived');
      await runBackfillBatch(deps, { data: { runId, mappingId: 'short-lived', batch: 0 }, attempt: 1 });
      await mappings.delete('short-lived');
      const worker = startMappingWorkers(deps, { concurrency: 1 });
      await drain(queue);
      await worker.close();
      expect(await jobRuns.get(runId)).toMatchObject({ state: 'done', total: 4, done: 2 });
      expect((await profileOf('p-deleted')).stats).toEqual({ n: 2 });
    });
  });
}

describe.skipIf(!(await postgresAvailable()))('mapping data contexts on PostgreSQL', () => {
  it('keeps production and test data apart in one database', async () => {
    const database = await createTestDatabase();
    const prod = connectPostgres({ url: database.url, schema: 'meridian_prod' });
    const test = connectPostgres({ url: database.url, schema: 'meridian_test' });
    try {
      for (const db of [prod, test]) {
        await migrate(db);
        await seedProfiles(db, ['p-1']);
        await seedEvents(db, [{ type: 'purchase', profile: 'p-1', properties: { amount: 3, sku: 'x', price: 3 } }]);
        await new SqlMappings(db).create(purchaseToProfile('same-id'));
      }
      const inTest = context(test, 10);
      const run = await inTest.runToEnd('same-id');
      expect(run).toMatchObject({ state: 'done', done: 1 });
      const stats = async (db: Database) =>
        (await db.query<{ stats: unknown }>(`SELECT stats FROM profiles WHERE id = 'p-1'`))[0]?.stats;
      expect(await stats(test)).toEqual({ spent: 3 });
      expect(await stats(prod)).toEqual({});
      expect(await prod.query('SELECT * FROM mapping_applied')).toEqual([]);
      expect(await new SqlJobRuns(prod).get(run.id)).toBeUndefined();
      await inTest.queue.close();
    } finally {
      await prod.close();
      await test.close();
      await database.drop();
    }
  });
});
