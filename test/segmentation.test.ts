import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryJobQueue } from '../src/queue/memory.js';
import {
  queueAwaitingResegments,
  rangesFromBounds,
  runSegmentationJob,
  SEGMENTATION_LIVE,
} from '../src/segmentation/job.js';
import { drainPending, runSegmentationWork, startSegmentationWorker } from '../src/segmentation/worker.js';
import { machineName } from '../src/segmentation/segment.js';
import type { Database } from '../src/storage/database.js';
import { SqlMembership, SqlSegments } from '../src/storage/sql-segments.js';
import { queueForSegmentationStep } from '../src/storage/segmentation-queue.js';
import type { CommittedChanges } from '../src/tracking/commit-steps.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

const logger = pino({ level: 'silent' });
const T0 = new Date('2026-03-01T12:00:00Z');

async function seedProfiles(db: Database, prefix: string, spent: number[]): Promise<string[]> {
  const ids = spent.map((_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  await db.query(
    `INSERT INTO profiles (id, traits) SELECT id, jsonb_build_object('spent', spent)
       FROM unnest($1::text[], $2::int[]) AS t(id, spent)`,
    [ids, spent],
  );
  return ids;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`segmentation on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let segments: SqlSegments;
    let membership: SqlMembership;
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      segments = new SqlSegments(db);
      membership = new SqlMembership(db);
    });
    afterAll(async () => db?.dispose());

    const members = async (segmentId: string) =>
      (
        await db.query<{ profile_id: string }>(
          'SELECT profile_id FROM segment_members WHERE segment_id = $1 AND left_at IS NULL ORDER BY 1',
          [segmentId],
        )
      ).map((row) => row.profile_id);
    const taggedWith = async (name: string) =>
      (await db.query<{ id: string }>('SELECT id FROM profiles WHERE $1 = ANY(segments) ORDER BY 1', [name])).map(
        (row) => row.id,
      );
    const changes = async (segmentId: string) =>
      db.query<{ profile_id: string; change: string }>(
        'SELECT profile_id, change FROM segment_changes WHERE segment_id = $1 ORDER BY seq',
        [segmentId],
      );

    it('lets matching profiles enter and non-matching ones leave, with outbox and profile.segments in step', async () => {
      const ids = await seedProfiles(db, 'p', [50, 150, 300, 20]);
      const segment = (await segments.create({
        id: 'big',
        name: 'Big spenders',
        machineName: machineName('Big spenders'),
        description: '',
        condition: 'profile@traits.spent > 100',
        enabled: true,
        eventTypes: [],
      }))!;
      const all = { kind: 'range', fromId: null, toId: null } as const;

      expect(await membership.apply(segment, all, T0)).toEqual({ entered: 2, left: 0 });
      expect(await members('big')).toEqual([ids[1], ids[2]]);
      expect(await taggedWith('big-spenders')).toEqual([ids[1], ids[2]]);

      // A redelivered job changes nothing.
      expect(await membership.apply(segment, all, T0)).toEqual({ entered: 0, left: 0 });

      await db.query(`UPDATE profiles SET traits = '{"spent": 10}' WHERE id = $1`, [ids[1]]);
      await db.query(`UPDATE profiles SET traits = '{"spent": 999}' WHERE id = $1`, [ids[3]]);
      expect(await membership.apply(segment, all, T0)).toEqual({ entered: 1, left: 1 });
      expect(await members('big')).toEqual([ids[2], ids[3]]);
      expect(await taggedWith('big-spenders')).toEqual([ids[2], ids[3]]);
      expect((await changes('big')).map((row) => `${row.change}:${row.profile_id}`).sort()).toEqual(
        [`entered:${ids[1]}`, `entered:${ids[2]}`, `entered:${ids[3]}`, `left:${ids[1]}`].sort(),
      );

      // Re-entry after leaving keeps one membership row with a fresh entry time.
      await db.query(`UPDATE profiles SET traits = '{"spent": 500}' WHERE id = $1`, [ids[1]]);
      const later = new Date(T0.getTime() + 60_000);
      expect(await membership.apply(segment, { kind: 'ids', ids: [ids[1]!] }, later)).toEqual({ entered: 1, left: 0 });
      const [row] = await db.query<{ entered_at: Date; left_at: Date | null }>(
        'SELECT entered_at, left_at FROM segment_members WHERE segment_id = $1 AND profile_id = $2',
        ['big', ids[1]],
      );
      expect(row).toEqual({ entered_at: later, left_at: null });
    });

    it("looks for exits among the batch's own members: a range or a list of ids", async () => {
      const ids = await seedProfiles(db, 'r', [200, 300, 400, 500]);
      const segment = (await segments.create({
        id: 'ranged',
        name: 'Ranged',
        machineName: 'ranged',
        description: '',
        condition: 'profile@traits.spent > 100',
        enabled: true,
        eventTypes: [],
      }))!;
      // 'r' and 's' bound the r-… ids in any collation; ids[2] splits them in two batches.
      const low = { kind: 'range', fromId: 'r', toId: ids[2]! } as const;
      const high = { kind: 'range', fromId: ids[2]!, toId: 's' } as const;
      expect(await membership.apply(segment, low, T0)).toEqual({ entered: 2, left: 0 });
      expect(await membership.apply(segment, high, T0)).toEqual({ entered: 2, left: 0 });

      await db.query(`UPDATE profiles SET traits = '{"spent": 0}' WHERE id = ANY($1::text[])`, [ids]);
      expect(await membership.apply(segment, high, T0)).toEqual({ entered: 0, left: 2 });
      expect(await members('ranged')).toEqual([ids[0], ids[1]]);
      expect(await membership.apply(segment, { kind: 'ids', ids: [ids[1]!] }, T0)).toEqual({ entered: 0, left: 1 });
      expect(await membership.apply(segment, low, T0)).toEqual({ entered: 0, left: 1 });
      expect(await members('ranged')).toEqual([]);
      expect(await taggedWith('ranged')).toEqual([]);
    });

    it('runs the job and worker end to end over ranges of profiles through the queue', async () => {
      await seedProfiles(
        db,
        'q',
        Array.from({ length: 250 }, (_, i) => i),
      );
      const segment = (await segments.create({
        id: 'even-hundreds',
        name: 'Hundreds',
        machineName: 'hundreds',
        description: '',
        condition: 'profile@traits.spent >= 100 AND profile@traits.spent < 200',
        enabled: true,
        eventTypes: [],
      }))!;
      const queue = new MemoryJobQueue({ logger });
      const deps = { queue, segments, membership, logger, clock: () => T0 };
      const report = await runSegmentationJob(deps, { batchSize: 40, segmentIds: [segment.id] });
      expect(report.jobs).toBeGreaterThan(5);
      const worker = startSegmentationWorker(deps, {
        concurrency: 2,
        pendingIntervalMs: 0,
        pendingBatch: 100,
        resegmentSweepMs: 0,
        resegmentBatch: 40,
      });
      for (let i = 0; i < 200; i++) {
        const counts = await queue.counts(SEGMENTATION_LIVE);
        if (counts.waiting + counts.active + counts.delayed === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await worker.close();
      await queue.close();
      expect((await members(segment.id)).length).toBe(100);
      expect((await segments.get(segment.id))?.lastRunAt).toBe(T0.toISOString());
      // The worker skips work for a segment that was deleted meanwhile.
      await segments.delete(segment.id);
      await expect(
        runSegmentationWork(deps, { segmentId: segment.id, selection: { kind: 'ids', ids: [] } }),
      ).resolves.toBeUndefined();
      expect(await taggedWith('hundreds')).toEqual([]);
    });

    it('re-checks profiles that tracking changed, only for segments interested in the tracked types', async () => {
      const [id] = await seedProfiles(db, 'pending', [1000]);
      await segments.create({
        id: 'buyers',
        name: 'Buyers',
        machineName: 'buyers',
        description: '',
        condition: 'profile@traits.spent > 500',
        enabled: true,
        eventTypes: ['purchase'],
      });
      await segments.create({
        id: 'anyone',
        name: 'Anyone',
        machineName: 'anyone',
        description: '',
        condition: 'profile@traits.spent > 0',
        enabled: true,
        eventTypes: [],
      });
      await db.query(`INSERT INTO segmentation_pending (profile_id, event_types) VALUES ($1, '{page-view}')`, [id]);
      const deps = { queue: new MemoryJobQueue({ logger }), segments, membership, logger, clock: () => T0 };
      expect(await drainPending(deps, 10)).toBe(1);
      expect(await members('anyone')).toContain(id);
      expect(await members('buyers')).not.toContain(id);
      await db.query(`INSERT INTO segmentation_pending (profile_id, event_types) VALUES ($1, '{purchase}')`, [id]);
      expect(await drainPending(deps, 10)).toBe(1);
      expect(await members('buyers')).toContain(id);
      expect(await db.query('SELECT * FROM segmentation_pending')).toEqual([]);
      await deps.queue.close();
    });

    // PGlite has one connection: no second transaction can hold a row lock while the worker waits.
    if (backend.name === 'postgres') {
      it('re-checks the survivor of a merge that deleted a pending profile while the worker waited for its lock', async () => {
        const [merged, survivor] = await seedProfiles(db, 'merging', [0, 0]);
        await segments.create({
          id: 'merged-rich',
          name: 'Merged rich',
          machineName: 'merged_rich',
          description: '',
          condition: 'profile@traits.spent > 500',
          enabled: true,
          eventTypes: [],
        });
        await db.query(`INSERT INTO segmentation_pending (profile_id, event_types) VALUES ($1, '{identify}')`, [
          merged,
        ]);
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let holding!: () => void;
        const held = new Promise<void>((resolve) => (holding = resolve));
        // A merge as identity writes one: both locked, the survivor takes the id and the data, the other goes.
        const merge = db.transaction(async (tx) => {
          await tx.query('SELECT id FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
            [merged, survivor],
          ]);
          holding();
          await released;
          await tx.query(`UPDATE profiles SET ids = ids || $2::text, traits = '{"spent": 1000}' WHERE id = $1`, [
            survivor,
            merged,
          ]);
          await tx.query('DELETE FROM profiles WHERE id = $1', [merged]);
        });
        await held;
        const deps = { queue: new MemoryJobQueue({ logger }), segments, membership, logger, clock: () => T0 };
        const draining = drainPending(deps, 100);
        for (let waiting = 0; waiting === 0;) {
          const [row] = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          waiting = row!.n;
        }
        release();
        await merge;
        await draining;
        expect(await members('merged-rich')).toEqual([survivor]);
        await deps.queue.close();
      });
    }

    it('sets aside a segment that cannot run, with its error and when, while the others go on', async () => {
      const [id] = await seedProfiles(db, 'isolated', [700]);
      const segment = (segmentId: string, condition: string) =>
        segments.create({
          id: segmentId,
          name: segmentId,
          machineName: segmentId,
          description: '',
          condition,
          enabled: true,
          eventTypes: [],
        });
      await segment('fine', 'profile@traits.spent > 600');
      await segment('explodes', 'profile@traits.spent > 600');
      // Saved before conditions were checked for half surrogate pairs: it no longer compiles.
      await db.query(
        `INSERT INTO segments (id, name, machine_name, condition) VALUES ('no-longer-compiles', 'x', 'no-longer-compiles', $1)`,
        ['profile@traits.x == "\\ud800"'],
      );
      // A statement that fails on the data (a data exception) for this segment only.
      await db.exec(`
        CREATE FUNCTION refuse_explodes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.segment_id = 'explodes' THEN RAISE EXCEPTION 'value out of range for explodes' USING ERRCODE = '22003'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_explodes BEFORE INSERT ON segment_members FOR EACH ROW EXECUTE FUNCTION refuse_explodes();`);
      try {
        await db.query(`INSERT INTO segmentation_pending (profile_id, event_types) VALUES ($1, '{page-view}')`, [id]);
        const deps = { queue: new MemoryJobQueue({ logger }), segments, membership, logger, clock: () => T0 };
        expect(await drainPending(deps, 10)).toBe(1);
        expect(await members('fine')).toEqual([id]);
        expect(await db.query('SELECT * FROM segmentation_pending')).toEqual([]);
        expect((await segments.get('explodes'))?.failure).toEqual({
          message: expect.stringMatching(/^the condition fails to run: value out of range for explodes/),
          at: T0.toISOString(),
        });
        expect((await segments.get('no-longer-compiles'))?.failure).toEqual({
          message: expect.stringMatching(/^the condition does not compile: String holds an unpaired surrogate/),
          at: T0.toISOString(),
        });
        expect((await segments.get('fine'))?.failure).toBeNull();

        // A full run of a failed segment completes its job and keeps the failure; it is not retried.
        const later = new Date(T0.getTime() + 60_000);
        await runSegmentationWork(
          { ...deps, clock: () => later },
          { segmentId: 'explodes', selection: { kind: 'ids', ids: [id!] } },
        );
        expect((await segments.get('explodes'))?.failure?.at).toBe(later.toISOString());
        expect(await members('explodes')).toEqual([]);

        // Saving it again clears the failure and asks for a re-decision; once it can run, it does.
        await db.exec('DROP TRIGGER refuse_explodes ON segment_members');
        const { id: _, ...input } = (await segments.get('explodes'))!;
        const saved = await segments.update('explodes', input);
        expect(saved).toMatchObject({ failure: null, resegmentPending: true });
        await runSegmentationWork(deps, { segmentId: 'explodes', selection: { kind: 'ids', ids: [id!] } });
        expect(await members('explodes')).toEqual([id]);
        await deps.queue.close();
      } finally {
        await db.exec('DROP TRIGGER IF EXISTS refuse_explodes ON segment_members; DROP FUNCTION refuse_explodes()');
        for (const segmentId of ['fine', 'explodes', 'no-longer-compiles']) await segments.delete(segmentId);
      }
    });

    it('keeps a re-decision a save asked for until its work is queued', async () => {
      const created = (await segments.create({
        id: 'asked',
        name: 'Asked',
        machineName: 'asked',
        description: '',
        condition: 'profile@active == true',
        enabled: true,
        eventTypes: [],
      }))!;
      expect(created.resegmentPending).toBe(true);
      const awaiting = async (graceMs: number) =>
        (await segments.listAwaitingQueue(graceMs)).map((segment) => segment.id);
      expect(await awaiting(0)).toContain('asked');
      // A save that waits for its own enqueue is left alone for the grace period.
      expect(await awaiting(60_000)).not.toContain('asked');
      const queue = new MemoryJobQueue({ logger });
      expect(
        await queueAwaitingResegments({ queue, segments, membership, logger }, { graceMs: 0, batchSize: 1000 }),
      ).toBeGreaterThanOrEqual(1);
      expect((await queue.counts(SEGMENTATION_LIVE)).waiting).toBeGreaterThan(0);
      expect((await segments.get('asked'))?.resegmentPending).toBe(false);
      expect(await awaiting(0)).toEqual([]);
      // Asks settled by an older enqueue stay open when a later save asked again.
      await segments.update('asked', { ...created, name: 'Asked again' });
      await segments.markQueued('asked', created.resegmentRequest);
      expect((await segments.get('asked'))?.resegmentPending).toBe(true);
      await queue.close();
      await segments.delete('asked');
    });

    it('cuts a large table at sampled ids into ranges of about the batch size', async () => {
      await db.query(`INSERT INTO profiles (id) SELECT md5('sampled' || i) FROM generate_series(1, 6000) AS i`);
      const size = 1000; // big enough that only part of the table is sampled
      const ranges = rangesFromBounds(await membership.rangeBounds(size));
      const counts = await Promise.all(
        ranges.map(async ({ fromId, toId }) => {
          const [row] = await db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM profiles WHERE ($1::text IS NULL OR id >= $1) AND ($2::text IS NULL OR id < $2)',
            [fromId, toId],
          );
          return row!.n;
        }),
      );
      const [total] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM profiles');
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(total!.n);
      expect(ranges.length).toBeGreaterThanOrEqual(4);
      // The last range holds what is left over; every other one is a batch give or take sampling noise.
      for (const n of counts.slice(0, -1)) {
        expect(n).toBeGreaterThan(size * 0.6);
        expect(n).toBeLessThan(size * 1.6);
      }
      expect(counts.at(-1)).toBeLessThan(size * 1.6);
    });

    it('queues the profiles a commit changed, grouped by event types, merging types with what already waits', async () => {
      await segments.create({
        id: 'queued-any',
        name: 'Queued',
        machineName: 'queued-any',
        description: '',
        condition: 'profile@traits.spent > 0',
        enabled: true,
        eventTypes: [],
      });
      const run = (changes: Omit<CommittedChanges, 'events'>) =>
        db.transaction((tx) => queueForSegmentationStep.run(tx, { ...changes, events: [] }));
      await run({
        writer: 'track',
        profiles: [
          { id: 'queued-1', eventTypes: ['a', 'b'] },
          { id: 'queued-2', eventTypes: ['a'] },
          { id: 'queued-3', eventTypes: ['a', 'b'] },
        ],
      });
      await run({ writer: 'heartbeat', profiles: [{ id: 'queued-1', eventTypes: ['c'] }] });
      const rows = await db.query<{ profile_id: string; event_types: string[] }>(
        `SELECT profile_id, event_types FROM segmentation_pending WHERE profile_id LIKE 'queued-%' ORDER BY 1`,
      );
      expect(rows.map((row) => [row.profile_id, [...row.event_types].sort()])).toEqual([
        ['queued-1', ['a', 'b', 'c']],
        ['queued-2', ['a']],
        ['queued-3', ['a', 'b']],
      ]);
      await db.query(`DELETE FROM segmentation_pending WHERE profile_id LIKE 'queued-%'`);
      await db.query(`DELETE FROM segments WHERE id = 'queued-any'`);
    });
  });
}
