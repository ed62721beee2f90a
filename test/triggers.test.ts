import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryJobQueue } from '../src/queue/memory.js';
import { machineName } from '../src/segmentation/segment.js';
import type { Database, SqlExecutor, TransactionExecutor } from '../src/storage/database.js';
import { SqlReadModel } from '../src/storage/sql-read-model.js';
import { SqlMembership, SqlSegments } from '../src/storage/sql-segments.js';
import { SqlTriggers } from '../src/storage/sql-triggers.js';
import { replayRule } from '../src/triggers/replay.js';
import { decide } from '../src/triggers/trigger.js';
import { drainChanges, startTriggerWorker, TRIGGER_BATCH } from '../src/triggers/worker.js';
import { WORKFLOW } from '../src/workflow/worker.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { eventually } from './support/eventually.js';

const logger = pino({ level: 'silent' });
const T0 = new Date('2026-03-01T12:00:00Z');
const only = (ids: readonly (string | undefined)[]) => ({ kind: 'ids', ids: ids as string[] }) as const;

type RunRow = {
  rule_id: string;
  change_seq: string;
  profile_id: string;
  trigger: string;
  status: string;
  payload: unknown;
};

/**
 * The store with a hook before each statement of its transactions that `when` picks: a test pauses a
 * worker mid-batch there, or makes it fail as a killed process would.
 */
function interrupted(db: Database, when: (sql: string) => boolean, hook: (tx: SqlExecutor) => Promise<void>): Database {
  const wrap = (tx: TransactionExecutor): TransactionExecutor => ({
    ...tx,
    query: async (sql, params) => {
      if (when(sql)) await hook(tx);
      return tx.query(sql, params);
    },
    exec: (script) => tx.exec(script),
    savepoint: (work) => tx.savepoint(work),
  });
  return Object.assign(Object.create(db) as Database, {
    transaction: <T>(work: (tx: TransactionExecutor) => Promise<T>) => db.transaction((tx) => work(wrap(tx))),
  });
}

const consuming = (sql: string) => sql.includes('UPDATE segment_changes');

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`trigger worker on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let segments: SqlSegments;
    let membership: SqlMembership;
    let triggers: SqlTriggers;
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      segments = new SqlSegments(db);
      membership = new SqlMembership(db);
      triggers = new SqlTriggers(db);
    });
    afterAll(async () => db?.dispose());

    const drain = () => drainChanges({ triggers }, TRIGGER_BATCH);

    async function seedProfiles(prefix: string, spent: number[]): Promise<string[]> {
      const ids = spent.map((_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
      await db.query(
        `INSERT INTO profiles (id, traits) SELECT id, jsonb_build_object('spent', spent)
           FROM unnest($1::text[], $2::int[]) AS t(id, spent)`,
        [ids, spent],
      );
      return ids;
    }
    async function segment(name: string, condition: string) {
      return (await segments.create({
        id: machineName(name),
        name,
        machineName: machineName(name),
        description: '',
        condition,
        enabled: true,
        eventTypes: [],
      }))!;
    }
    async function rule(
      id: string,
      kind: 'segment-entered' | 'segment-left' | 'event',
      target: string,
      options: { enabled?: boolean; flowEnabled?: boolean; createdAt?: Date } = {},
    ) {
      await db.query(
        `INSERT INTO flows (id, name, type, enabled, graph) VALUES ($1, $1, 'segmentation', $2, '{"nodes":[],"edges":[]}')`,
        [`flow-${id}`, options.flowEnabled ?? true],
      );
      await db.query(
        `INSERT INTO rules (id, name, kind, event_type, segment_id, flow_id, enabled, created_at)
         VALUES ($1, $1, $2, $3, $4, $5, $6, $7)`,
        [
          id,
          kind,
          kind === 'event' ? target : null,
          kind === 'event' ? null : target,
          `flow-${id}`,
          options.enabled ?? true,
          options.createdAt ?? new Date(T0.getTime() - 60_000),
        ],
      );
    }
    const runsOf = (ruleId: string) =>
      db.query<RunRow>(
        `SELECT rule_id, change_seq::text, profile_id, trigger, status, payload FROM workflow_runs
          WHERE rule_id = $1 ORDER BY created_at, id`,
        [ruleId],
      );
    const unconsumed = async (segmentId: string) =>
      (
        await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM segment_changes WHERE segment_id = $1 AND consumed_at IS NULL',
          [segmentId],
        )
      )[0]!.n;
    const setSpent = (id: string, spent: number) =>
      db.query(`UPDATE profiles SET traits = jsonb_build_object('spent', $2::int) WHERE id = $1`, [id, spent]);

    it('records one pending run per (change, enabled rule of an enabled flow), with the change as payload', async () => {
      const ids = await seedProfiles('basic', [150, 50, 300]);
      const big = await segment('Basic big', 'profile@traits.spent > 100');
      await rule('basic-enter', 'segment-entered', big.id);
      await rule('basic-enter-too', 'segment-entered', big.id);
      await rule('basic-left', 'segment-left', big.id);
      await rule('basic-off', 'segment-entered', big.id, { enabled: false });
      await rule('basic-flow-off', 'segment-entered', big.id, { flowEnabled: false });
      await rule('basic-other', 'segment-entered', 'another-segment');
      await rule('basic-event', 'event', 'page-view');

      await membership.apply(big, only(ids), T0);
      const done = await drain();
      expect(done).toMatchObject({ consumed: 2, runs: 4, skipped: 0 });

      const runs = await runsOf('basic-enter');
      expect(runs.map((run) => run.profile_id).sort()).toEqual([ids[0], ids[2]]);
      expect(runs[0]).toMatchObject({
        trigger: 'segment-entered',
        status: 'pending',
        payload: { segment: big.id, change: 'entered', at: T0.toISOString() },
      });
      expect(await runsOf('basic-enter-too')).toHaveLength(2);
      for (const silent of ['basic-left', 'basic-off', 'basic-flow-off', 'basic-other', 'basic-event'])
        expect(await runsOf(silent)).toEqual([]);
      expect(await unconsumed(big.id)).toBe(0);

      // Consumed changes are not handed out again.
      expect(await drain()).toMatchObject({ claimed: 0, runs: 0 });
      expect(await runsOf('basic-enter')).toHaveLength(2);
    });

    it('fires again when a profile leaves and enters again, and fires the exits', async () => {
      const [id] = await seedProfiles('again', [150]);
      const vip = await segment('Again vip', 'profile@traits.spent > 100');
      await rule('again-enter', 'segment-entered', vip.id);
      await rule('again-left', 'segment-left', vip.id);
      await membership.apply(vip, only([id]), T0);
      await setSpent(id!, 10);
      await membership.apply(vip, only([id]), new Date(T0.getTime() + 1000));
      await setSpent(id!, 500);
      await membership.apply(vip, only([id]), new Date(T0.getTime() + 2000));
      await drain();

      const entered = await runsOf('again-enter');
      expect(entered.map((run) => (run.payload as { at: string }).at)).toEqual([
        T0.toISOString(),
        new Date(T0.getTime() + 2000).toISOString(),
      ]);
      expect((await runsOf('again-left')).map((run) => run.payload)).toEqual([
        { segment: vip.id, change: 'left', at: new Date(T0.getTime() + 1000).toISOString() },
      ]);
    });

    it("records a deleted profile's exits, and skips them and its earlier changes with the reason", async () => {
      const [gone, kept] = await seedProfiles('deleted', [150, 150]);
      const vip = await segment('Deleted vip', 'profile@traits.spent > 100');
      await rule('deleted-enter', 'segment-entered', vip.id);
      await rule('deleted-left', 'segment-left', vip.id);
      await membership.apply(vip, only([gone, kept]), T0);
      expect(await new SqlReadModel(db).deleteProfile(gone!)).toBe(true);

      const changes = await db.query<{ profile_id: string; change: string }>(
        'SELECT profile_id, change FROM segment_changes WHERE segment_id = $1 ORDER BY seq',
        [vip.id],
      );
      expect(changes.filter((change) => change.profile_id === gone).map((change) => change.change)).toEqual([
        'entered',
        'left',
      ]);
      const before = (await triggers.backlog()).skipped;
      await drain();
      expect((await runsOf('deleted-enter')).map((run) => run.profile_id)).toEqual([kept]);
      expect(await runsOf('deleted-left')).toEqual([]);
      const skipped = await db.query<{ skipped: string | null }>(
        'SELECT skipped FROM segment_changes WHERE profile_id = $1 ORDER BY seq',
        [gone],
      );
      expect(skipped.map((row) => row.skipped)).toEqual(['profile-deleted', 'profile-deleted']);
      expect((await triggers.backlog()).skipped).toBe(before + 2);
      expect(await unconsumed(vip.id)).toBe(0);
    });

    it('does not fire a rule for changes made before it existed, unless it is replayed', async () => {
      const ids = await seedProfiles('replay', [150, 150]);
      const vip = await segment('Replay vip', 'profile@traits.spent > 100');
      await membership.apply(vip, only(ids), T0);
      await rule('replay-enter', 'segment-entered', vip.id, { createdAt: new Date(T0.getTime() + 60_000) });
      await drain();
      expect(await runsOf('replay-enter')).toEqual([]);

      expect(await replayRule(triggers, 'replay-enter', new Date(T0.getTime() + 1).toISOString(), undefined)).toEqual({
        recorded: 0,
      });
      expect(await replayRule(triggers, 'replay-enter', T0.toISOString(), undefined)).toEqual({ recorded: 2 });
      expect((await runsOf('replay-enter')).map((run) => run.profile_id).sort()).toEqual(ids);
      // A replay repeated starts nothing twice.
      expect(await replayRule(triggers, 'replay-enter', T0.toISOString(), undefined)).toEqual({ recorded: 0 });
      await expect(replayRule(triggers, 'missing', T0.toISOString(), undefined)).rejects.toMatchObject({
        code: 'not_found',
      });
      await rule('replay-event', 'event', 'page-view');
      await expect(replayRule(triggers, 'replay-event', T0.toISOString(), undefined)).rejects.toMatchObject({
        code: 'bad_request',
      });
      await rule('replay-off', 'segment-entered', vip.id, { enabled: false });
      await expect(replayRule(triggers, 'replay-off', T0.toISOString(), undefined)).rejects.toMatchObject({
        code: 'conflict',
      });
      await expect(replayRule(triggers, 'replay-enter', 'yesterday', undefined)).rejects.toMatchObject({
        code: 'bad_request',
        details: [{ field: 'since' }],
      });
      // Changes made before the horizon may have been purged: such a replay is refused, not partial.
      const horizon = new Date(T0.getTime() + 1);
      await expect(replayRule(triggers, 'replay-enter', T0.toISOString(), horizon)).rejects.toMatchObject({
        code: 'bad_request',
        details: [{ field: 'since', message: `expected ${horizon.toISOString()} or later` }],
      });
      expect(await replayRule(triggers, 'replay-enter', horizon.toISOString(), horizon)).toEqual({ recorded: 0 });
    });

    it('purges the consumed changes made before a time, in slices, and never an unconsumed one', async () => {
      const horizon = new Date('2000-01-02T00:00:00Z');
      const old = new Date('2000-01-01T00:00:00Z');
      const recent = new Date('2000-01-03T00:00:00Z');
      await db.query(
        `INSERT INTO segment_changes (segment_id, profile_id, change, at, consumed_at)
         SELECT 'purged', 'old-' || i, 'entered', $1, now() FROM generate_series(1, 5001) AS i`,
        [old],
      );
      await db.query(
        `INSERT INTO segment_changes (segment_id, profile_id, change, at, consumed_at)
         VALUES ('purged', 'recent', 'entered', $1, now()), ('purged', 'unconsumed', 'left', $2, NULL)`,
        [recent, old],
      );
      expect(await triggers.purgeConsumedBefore(horizon)).toBe(5001);
      const left = await db.query<{ profile_id: string }>(
        `SELECT profile_id FROM segment_changes WHERE segment_id = 'purged' ORDER BY seq`,
      );
      expect(left.map((row) => row.profile_id)).toEqual(['recent', 'unconsumed']);
      expect(await unconsumed('purged')).toBe(1);
      await drain();
      expect(await triggers.purgeConsumedBefore(horizon)).toBe(1);
    });

    it('loses and repeats nothing when a batch fails after recording its runs (a killed worker)', async () => {
      const ids = await seedProfiles('kill', [150, 150, 150]);
      const vip = await segment('Kill vip', 'profile@traits.spent > 100');
      await rule('kill-enter', 'segment-entered', vip.id);
      await membership.apply(vip, only(ids), T0);

      const dying = new SqlTriggers(
        interrupted(db, consuming, () => Promise.reject(new Error('killed between the runs and the consumption'))),
      );
      await expect(drainChanges({ triggers: dying }, TRIGGER_BATCH)).rejects.toThrow(/killed/);
      expect(await runsOf('kill-enter')).toEqual([]);
      expect(await unconsumed(vip.id)).toBe(3);

      await drain();
      expect(await runsOf('kill-enter')).toHaveLength(3);
      expect(await unconsumed(vip.id)).toBe(0);
    });

    it('shares the outbox between two workers: every change consumed once, one run per change', async () => {
      await drain();
      const count = 3000;
      const ids = await seedProfiles(
        'pair',
        Array.from({ length: count }, () => 150),
      );
      const vip = await segment('Pair vip', 'profile@traits.spent > 100');
      await rule('pair-enter', 'segment-entered', vip.id);
      await membership.apply(vip, only(ids), T0);

      const [first, second] = await Promise.all([
        drainChanges({ triggers }, 100),
        drainChanges({ triggers: new SqlTriggers(db) }, 100),
      ]);
      // Each drain stops at a short batch; what is left (changes held back behind the other) goes next.
      const rest = await drain();
      expect(first.consumed + second.consumed + rest.consumed).toBe(count);
      expect(first.runs + second.runs + rest.runs).toBe(count);
      const runs = await runsOf('pair-enter');
      expect(runs).toHaveLength(count);
      expect(new Set(runs.map((run) => run.profile_id)).size).toBe(count);
      expect(new Set(runs.map((run) => run.profile_id))).toEqual(new Set(ids));
    });

    it('runs in-process on its timer', async () => {
      const ids = await seedProfiles('timer', [150]);
      const vip = await segment('Timer vip', 'profile@traits.spent > 100');
      await rule('timer-enter', 'segment-entered', vip.id);
      const queue = new MemoryJobQueue({ logger });
      const worker = startTriggerWorker({ triggers, queue, logger }, { intervalMs: 20, batch: TRIGGER_BATCH });
      try {
        await membership.apply(vip, only(ids), T0);
        expect(
          await eventually(
            () => runsOf('timer-enter'),
            (runs) => runs.length === 1,
          ),
        ).toHaveLength(1);
        // The workflow worker is woken for the runs.
        expect(
          (
            await eventually(
              () => queue.counts(WORKFLOW),
              (counts) => counts.waiting > 0,
            )
          ).waiting,
        ).toBe(1);
      } finally {
        await worker.close();
        await queue.close();
      }
    });

    it.skipIf(backend.name !== 'postgres')(
      "hands a profile's later change out only after its earlier one, held by another worker, is consumed",
      async () => {
        await drain();
        const [held, other] = await seedProfiles('order', [150, 150]);
        const vip = await segment('Order vip', 'profile@traits.spent > 100');
        await rule('order-enter', 'segment-entered', vip.id);
        await rule('order-left', 'segment-left', vip.id);
        // held enters first, on its own, so that a one-change batch can hold it alone.
        await setSpent(other!, 10);
        await membership.apply(vip, only([held, other]), T0);
        await setSpent(other!, 150);
        await setSpent(held!, 10);
        await membership.apply(vip, only([held, other]), new Date(T0.getTime() + 1000));

        let release!: () => void;
        let paused!: () => void;
        const atPause = new Promise<void>((resolve) => (paused = resolve));
        const slow = new SqlTriggers(
          interrupted(db, consuming, () => {
            paused();
            return new Promise((resolve) => (release = resolve));
          }),
        );
        const first = slow.consume(1, decide);
        await atPause;
        // held's exit waits behind its entry, held by the paused worker; other's entry goes.
        const second = await triggers.consume(TRIGGER_BATCH, decide);
        expect(second).toMatchObject({ claimed: 2, consumed: 1 });
        expect((await runsOf('order-enter')).map((run) => run.profile_id)).toEqual([other]);
        release();
        expect(await first).toMatchObject({ consumed: 1, runs: 1 });
        expect(await drain()).toMatchObject({ consumed: 1, runs: 1 });
        const runs = await db.query<{ trigger: string }>(
          'SELECT trigger FROM workflow_runs WHERE profile_id = $1 ORDER BY created_at, id',
          [held],
        );
        expect(runs.map((run) => run.trigger)).toEqual(['segment-entered', 'segment-left']);
      },
    );
  });
}
