/**
 * The scheduler worker over a real store (PGlite and PostgreSQL): exclusive claims, overdue items at
 * start, retries to dead with a controlled clock, and a worker process killed between the event's
 * commit and the item's (PostgreSQL: the test holds row locks from its own connection).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Composition } from '../src/cli/composition.js';
import { loadConfig } from '../src/config/config.js';
import { scheduledFromRun } from '../src/scheduler/from-workflow.js';
import { scheduledEventId, type NewScheduled } from '../src/scheduler/schedule.js';
import {
  purgeFinished,
  runDue,
  startSchedulerWorker,
  type SchedulerDeps,
  type SchedulerSettings,
} from '../src/scheduler/worker.js';
import { timeOrderedId } from '../src/shared/ids.js';
import { createLogger } from '../src/shared/logger.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { scheduleInTx } from '../src/storage/sql-scheduled.js';
import type { Backend } from './support/api.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable } from './support/postgres.js';
import { runMeridian, type MeridianProcess } from './support/processes.js';

const logger = createLogger('silent');
const settings: SchedulerSettings = { sweepMs: 3_600_000, claimMs: 60_000, maxAttempts: 3, retentionDays: 30 };
const backends: { name: Backend; available: boolean }[] = [
  { name: 'pglite', available: true },
  { name: 'postgres', available: await postgresAvailable() },
];

interface World {
  /** One composition per worker process (PGlite: one owner, so both are the same). */
  roots: [Composition, Composition];
  url?: string;
  dispose(): Promise<void>;
}

async function openWorld(backend: Backend): Promise<World> {
  if (backend === 'pglite') {
    const root = await Composition.open(loadConfig({ DATA_DIR: ':memory:', LOG_LEVEL: 'silent' }), logger);
    return { roots: [root, root], dispose: () => root.close() };
  }
  const database = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  const roots: [Composition, Composition] = [
    await Composition.open(config, logger),
    await Composition.open(config, logger),
  ];
  return {
    roots,
    url: database.url,
    dispose: async () => {
      for (const root of roots) await root.close();
      await database.drop();
    },
  };
}

/** A stored profile's id: tracking gives an unknown profile id a new profile, as /track does. */
async function newProfile(root: Composition): Promise<string> {
  const answer = await root
    .tracking()
    .tracker.collect({ source: { id: 'scheduler' }, events: [{ type: 'hello' }] }, { channel: 'scheduler' });
  return answer.profile.id;
}

function depsOf(root: Composition, clock?: () => Date): SchedulerDeps {
  const { tracker } = root.tracking();
  return {
    scheduled: root.repositories.scheduled,
    collect: (payload, origin) => tracker.collect(payload, origin),
    queue: root.queue,
    logger,
    clock,
  };
}

const eventItem = (dueAt: Date, profileId: string, type: string, sourceId = 'scheduler'): NewScheduled => ({
  id: timeOrderedId(),
  dueAt,
  work: { kind: 'event', profileId, sourceId, event: { type, properties: { due: dueAt.toISOString() } } },
});

const minutes = (n: number) => n * 60_000;

let world: World | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

describe.each(backends)('scheduler on $name', ({ name, available }) => {
  it.skipIf(!available)('runs each due item once with two workers taking from the same table', async () => {
    world = await openWorld(name);
    const [a, b] = world.roots;
    const now = new Date();
    const items = Array.from({ length: 60 }, (_, n) =>
      eventItem(new Date(now.getTime() - n * 1000), `profile-${n % 7}`, 'reminder'),
    );
    await a.repositories.scheduled.add(items);

    const [ranA, ranB] = await Promise.all([runDue(depsOf(a), settings), runDue(depsOf(b), settings)]);

    expect(ranA + ranB).toBe(60);
    const done = await a.repositories.scheduled.list({ state: 'done', limit: 1000 });
    expect(done).toHaveLength(60);
    expect(done.every((item) => item.attempts === 1)).toBe(true);
    const events = await a.db.query<{ id: string }>(`SELECT id FROM events WHERE type = 'reminder'`);
    expect(events.map((event) => event.id).sort()).toEqual(items.map((item) => scheduledEventId(item.id)).sort());
  });

  it.skipIf(!available)('runs at start, in due order, the items that fell due while no worker ran', async () => {
    world = await openWorld(name);
    const [root] = world.roots;
    const now = new Date();
    const sleeper = await newProfile(root);
    const due = [3, 1, 4, 2].map((hoursAgo) =>
      eventItem(new Date(now.getTime() - hoursAgo * 3_600_000), sleeper, `missed-${hoursAgo}h`),
    );
    const later = eventItem(new Date(now.getTime() + 3_600_000), sleeper, 'not-yet');
    // Stored as a flow's commit stores them: in the writer's transaction, with no wake-up queued.
    await root.db.transaction((tx) => scheduleInTx(tx, [...due, later]));

    const worker = startSchedulerWorker(depsOf(root), settings);
    try {
      const done = await eventually(
        () => root.repositories.scheduled.list({ state: 'done', limit: 10 }),
        (items) => items.length === 4,
      );
      expect(done).toHaveLength(4);
    } finally {
      await worker.close();
    }
    const events = await root.db.query<{ type: string }>(
      `SELECT type FROM events WHERE profile_id = $1 AND type LIKE 'missed-%' ORDER BY seq`,
      [sleeper],
    );
    expect(events.map((event) => event.type)).toEqual(['missed-4h', 'missed-3h', 'missed-2h', 'missed-1h']);
    expect((await root.repositories.scheduled.get(later.id))?.state).toBe('pending');
  });

  it.skipIf(!available)('runs an item stored without a wake-up when it is due, before the next sweep', async () => {
    world = await openWorld(name);
    const [root] = world.roots;
    const profileId = await newProfile(root);
    const item = eventItem(new Date(Date.now() + 500), profileId, 'unannounced');
    await root.db.transaction((tx) => scheduleInTx(tx, [item]));

    // The sweep is an hour away and no job wakes the worker: only its timer for the next item can run it.
    const worker = startSchedulerWorker(depsOf(root), settings);
    try {
      const done = await eventually(
        () => root.repositories.scheduled.get(item.id),
        (stored) => stored?.state === 'done',
      );
      expect(done?.state).toBe('done');
    } finally {
      await worker.close();
    }
  });

  it.skipIf(!available)('retries a failing item with backoff, then marks it dead with its reason', async () => {
    world = await openWorld(name);
    const [root] = world.roots;
    let now = new Date();
    const deps = depsOf(root, () => now);
    const item = eventItem(now, 'unlucky', 'never', 'no-such-source');
    await root.repositories.scheduled.add([item]);

    await runDue(deps, settings);
    let stored = await root.repositories.scheduled.get(item.id);
    expect(stored).toMatchObject({ state: 'pending', attempts: 1 });
    expect(stored?.lastError).toMatch(/invalid_source/);
    expect(stored!.dueAt.getTime()).toBeGreaterThan(now.getTime());

    // Not due again before its backoff is over.
    expect(await runDue(deps, settings)).toBe(0);
    now = new Date(now.getTime() + minutes(1));
    await runDue(deps, settings);
    expect(await root.repositories.scheduled.get(item.id)).toMatchObject({ state: 'pending', attempts: 2 });
    now = new Date(now.getTime() + minutes(1));
    await runDue(deps, settings);
    stored = await root.repositories.scheduled.get(item.id);
    expect(stored).toMatchObject({ state: 'dead', attempts: 3 });
    expect(stored?.lastError).toMatch(/no-such-source/);
    now = new Date(now.getTime() + minutes(60));
    expect(await runDue(deps, settings)).toBe(0);

    // Retried by hand: due at once, with fresh attempts (the HTTP test fixes the cause and sees it done).
    expect((await root.repositories.scheduled.retry(item.id, now)).retried).toBe(true);
    expect(await root.repositories.scheduled.get(item.id)).toMatchObject({ state: 'pending', attempts: 0, dueAt: now });
    expect(await runDue(deps, settings)).toBe(1);
  });

  it.skipIf(!available)(
    "tracks a profile's items due together as one request in due order; a refused event fails only its item",
    async () => {
      world = await openWorld(name);
      const [root] = world.roots;
      const profileId = await newProfile(root);
      const now = new Date();
      const items = ['first', ' ', 'third'].map((type, n) =>
        eventItem(new Date(now.getTime() - 3_000 + n), profileId, type),
      );
      await root.repositories.scheduled.add(items);

      expect(await runDue(depsOf(root), settings)).toBe(3);

      const [first, refused, third] = await Promise.all(items.map((item) => root.repositories.scheduled.get(item.id)));
      expect(first).toMatchObject({ state: 'done' });
      expect(third).toMatchObject({ state: 'done' });
      expect(refused).toMatchObject({ state: 'pending', attempts: 1 });
      expect(refused?.lastError).toMatch(/^events\.1\.type/);
      const events = await root.db.query<{ type: string }>(
        `SELECT type FROM events WHERE profile_id = $1 AND type IN ('first', 'third') ORDER BY seq`,
        [profileId],
      );
      expect(events.map((event) => event.type)).toEqual(['first', 'third']);
    },
  );

  it.skipIf(!available)('removes done and cancelled items past the retention, and keeps the others', async () => {
    world = await openWorld(name);
    const [root] = world.roots;
    const profileId = await newProfile(root);
    const now = new Date();
    const [done, cancelled, pending, dead] = ['done', 'cancelled', 'pending', 'dead'].map((type) =>
      eventItem(type === 'pending' ? new Date(now.getTime() + minutes(60)) : now, profileId, type),
    );
    await root.repositories.scheduled.add([done!, cancelled!, pending!, dead!]);
    await root.repositories.scheduled.cancel(cancelled!.id, now);
    await root.db.query(`UPDATE scheduled SET state = 'dead' WHERE id = $1`, [dead!.id]);
    await runDue(depsOf(root), settings);

    expect(
      await purgeFinished(
        depsOf(root, () => new Date(now.getTime() + minutes(60 * 24 * 29))),
        settings,
      ),
    ).toBe(0);
    expect(
      await purgeFinished(
        depsOf(root, () => new Date(now.getTime() + minutes(60 * 24 * 31))),
        settings,
      ),
    ).toBe(2);
    const left = await root.repositories.scheduled.list({ limit: 10 });
    expect(left.map((item) => item.id).sort()).toEqual([pending!.id, dead!.id].sort());
  });

  it.skipIf(!available)('hands a paused run back to the workflow executor at its node and port when due', async () => {
    world = await openWorld(name);
    const [root] = world.roots;
    const now = new Date();
    const pause = { node: 'wait', port: 'payload', input: {}, at: new Date(now.getTime() - 1000).toISOString() };
    const paused = { id: 'run-paused', profileId: null, sessionId: null, sourceId: null };
    const finished = { ...paused, id: 'run-finished' };
    // As the executor's commit does: the run's paused state and its resume in one transaction.
    await root.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO workflow_runs (id, flow_id, trigger, status, pause, memory)
         VALUES ($1, 'flow', 'event', 'paused', $2::text::jsonb, '{"step": 2}'), ($3, 'flow', 'event', 'completed', NULL, '{}')`,
        [paused.id, JSON.stringify(pause), finished.id],
      );
      await scheduleInTx(tx, [...scheduledFromRun(paused, [], pause), ...scheduledFromRun(finished, [], pause)]);
    });

    expect(await runDue(depsOf(root), settings)).toBe(2);

    const runs = await root.db.query<{ id: string; status: string; pause: unknown; memory: unknown }>(
      `SELECT id, status, pause, memory FROM workflow_runs ORDER BY id`,
    );
    expect(runs).toEqual([
      { id: 'run-finished', status: 'completed', pause: null, memory: {} },
      {
        id: 'run-paused',
        status: 'pending',
        pause: { ...pause, resume: { node: 'wait', port: 'payload' } },
        memory: { step: 2 },
      },
    ]);
    const items = await root.repositories.scheduled.list({ limit: 10 });
    const byRun = (item: (typeof items)[number]) => (item.work.kind === 'resume' ? item.work.runId : '');
    items.sort((a, b) => byRun(a).localeCompare(byRun(b)));
    expect(items.map((item) => [item.work, item.state])).toEqual([
      [{ kind: 'resume', runId: 'run-finished', node: 'wait', port: 'payload' }, 'done'],
      [{ kind: 'resume', runId: 'run-paused', node: 'wait', port: 'payload' }, 'done'],
    ]);
  });

  it.skipIf(!available)('lets a cancel either win over a claim or find the item taken', async () => {
    world = await openWorld(name);
    const [a, b] = world.roots;
    const now = new Date();
    const items = Array.from({ length: 40 }, (_, n) => eventItem(now, `racer-${n}`, 'raced'));
    await a.repositories.scheduled.add(items);

    const [cancels] = await Promise.all([
      Promise.all(items.map((item) => b.repositories.scheduled.cancel(item.id, now))),
      runDue(depsOf(a), settings),
    ]);

    const ran = new Set(
      (await a.db.query<{ id: string }>(`SELECT id FROM events WHERE type = 'raced'`)).map((event) => event.id),
    );
    for (const [index, item] of items.entries()) {
      const { cancelled, item: seen } = cancels[index]!;
      const final = await a.repositories.scheduled.get(item.id);
      if (cancelled) {
        expect(final?.state).toBe('cancelled');
        expect(ran.has(scheduledEventId(item.id))).toBe(false);
      } else {
        expect(['running', 'done']).toContain(seen?.state);
        expect(final?.state).toBe('done');
        expect(ran.has(scheduledEventId(item.id))).toBe(true);
      }
    }
  });
});

describe('a scheduler worker killed between the event and the item', () => {
  let worker: MeridianProcess | undefined;
  afterEach(() => {
    if (worker?.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  });

  it.skipIf(!backends[1]!.available)('is redone once after its claim expires: the event is stored once', async () => {
    world = await openWorld('postgres');
    const [root] = world.roots;
    // The profile exists, so the worker's collect locks its row: the test's lock holds it there.
    const victim = await newProfile(root);
    const item = eventItem(new Date(), victim, 'mid-kill');
    await root.repositories.scheduled.add([item]);
    const eventId = scheduledEventId(item.id);

    const locks = connectPostgres({ url: world.url!, schema: root.db.schema, maxConnections: 2 });
    const held = (sql: string, params: unknown[]) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const done = locks
        .transaction(async (tx) => {
          await tx.query(sql, params);
          locked();
          await released;
          throw new Error('rolled back on purpose');
        })
        .catch(() => undefined);
      return { isLocked, release: async () => (release(), await done) };
    };
    try {
      const profileLock = held(`SELECT id FROM profiles WHERE id = $1 FOR UPDATE`, [victim]);
      await profileLock.isLocked;
      worker = runMeridian(['worker', 'scheduler'], {
        DATABASE_URL: world.url!,
        SCHEDULER_SWEEP_S: '1',
        LOG_LEVEL: 'warn',
      });
      // Claimed (the claim commits on its own), then stuck on the profile lock inside collect.
      await eventually(
        () => root.repositories.scheduled.get(item.id),
        (stored) => stored?.state === 'running',
        60_000,
      );
      expect((await root.repositories.scheduled.get(item.id))?.state).toBe('running');
      // Hold the item's row so that marking it done waits, then let the event commit.
      const itemLock = held(`SELECT id FROM scheduled WHERE id = $1 FOR UPDATE`, [item.id]);
      await itemLock.isLocked;
      await profileLock.release();
      const stored = await eventually(
        () => root.db.query(`SELECT id FROM events WHERE id = $1`, [eventId]),
        (rows) => rows.length === 1,
        60_000,
      );
      expect(stored).toHaveLength(1);
      worker.child.kill('SIGKILL');
      await worker.exited;
      // The dead worker's statement still waits in its server process, which would run it once the
      // lock goes and only then find the client gone: end it, as a server that noticed the dead
      // connection would (client_connection_check_interval, TCP keepalives).
      await root.db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      await itemLock.release();
    } finally {
      await locks.close();
    }

    expect(await root.repositories.scheduled.get(item.id)).toMatchObject({ state: 'running', attempts: 1 });
    // Another worker, once the dead one's claim has expired.
    const later = new Date(Date.now() + settings.claimMs + 1_000);
    expect(
      await runDue(
        depsOf(root, () => later),
        settings,
      ),
    ).toBe(1);
    expect(await root.repositories.scheduled.get(item.id)).toMatchObject({ state: 'done', attempts: 2 });
    const events = await root.db.query(`SELECT id FROM events WHERE type = 'mid-kill'`);
    expect(events).toEqual([{ id: eventId }]);
  });
});
