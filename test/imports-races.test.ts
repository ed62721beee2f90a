/**
 * An import's appends (tracking/history-commit.ts) racing the writers that end a visit or delete a
 * person, on PostgreSQL: PGlite's one connection runs transactions one after another.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlExecutor, TransactionExecutor } from '../src/storage/database.js';
import { lockSessionCounts } from '../src/storage/sql-import-records.js';
import { SqlTrackingStore } from '../src/storage/sql-tracking-store.js';
import { startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';
import { postgresAvailable } from './support/postgres.js';

describe.skipIf(!(await postgresAvailable()))('imports racing other writers on postgres', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('postgres');
  });
  afterAll(async () => {
    await api?.close();
  });

  /** A person /track opened: their profile and session. */
  const person = async () => {
    const answer = await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] });
    expect(answer.statusCode, answer.body).toBe(200);
    return answer.json<{ profile: { id: string }; session: { id: string } }>();
  };

  /**
   * Runs `write` while `change` is made in a transaction that commits only once `write` has either
   * finished (it read around the change) or waits for a lock the change holds.
   */
  const during = async <T>(change: (tx: SqlExecutor) => Promise<unknown>, write: () => Promise<T>): Promise<T> => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let changed!: () => void;
    const made = new Promise<void>((resolve) => (changed = resolve));
    const holder = api.runtime.db.transaction(async (tx) => {
      await change(tx);
      changed();
      await released;
    });
    await made;
    const written = write();
    let done = false;
    void written.finally(() => (done = true)).catch(() => undefined);
    await eventually(
      async () =>
        done ||
        Number((await api.runtime.db.query(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`))[0]!['n']) > 0,
      (ready) => ready,
      5_000,
    );
    release();
    await holder;
    return written;
  };

  /** Appends an event to the session as an import's batch does; answers its id and the outcome. */
  const appendDuring = async (change: (tx: SqlExecutor) => Promise<unknown>, sessionId: string) => {
    const { tracker, historyCommit } = api.runtime.root.tracking();
    const id = randomUUID();
    const checked = await tracker.checkAppend(
      api.sourceId,
      'race-order',
      [{ id, sessionId, profileId: undefined, properties: {} }],
      { channel: 'import' },
    );
    const outcome = await during(change, () => tracker.appendChecked(checked, historyCommit));
    return { id, outcome };
  };

  const deletion = (profileId: string) => async (tx: SqlExecutor) => {
    await tx.query('DELETE FROM sessions WHERE profile_id = $1', [profileId]);
    await tx.query('DELETE FROM events WHERE profile_id = $1', [profileId]);
    await tx.query('DELETE FROM profiles WHERE id = $1', [profileId]);
  };

  it('leaves to collect a row whose session a profile deletion removes meanwhile: no event on a deleted profile', async () => {
    const { profile, session } = await person();
    const { id, outcome } = await appendDuring(deletion(profile.id), session.id);
    expect(outcome).toEqual({ stored: 0, declined: [0] });
    expect(await api.runtime.db.query('SELECT profile_id FROM events WHERE id = $1', [id])).toEqual([]);
  });

  it('leaves to collect a row whose visit the heartbeat ends meanwhile, so that collect starts a new visit', async () => {
    const { session } = await person();
    const { id, outcome } = await appendDuring(
      (tx) => tx.query(`UPDATE sessions SET status = 'ended', visit_ended_at = now() WHERE id = $1`, [session.id]),
      session.id,
    );
    expect(outcome).toEqual({ stored: 0, declined: [0] });
    expect(await api.runtime.db.query('SELECT 1 FROM events WHERE id = $1', [id])).toEqual([]);
  });

  it("creates a new person for a collected row whose session a profile deletion removes while the import's commit reads it", async () => {
    const { profile, session } = await person();
    const { tracker, historyCommit } = api.runtime.root.tracking();
    const id = randomUUID();
    const [result] = await during(deletion(profile.id), async () =>
      tracker.commitChecked(
        await tracker.checkAll(
          [{ source: { id: api.sourceId }, session: { id: session.id }, events: [{ id, type: 'race-order' }] }],
          { channel: 'import' },
        ),
        historyCommit,
      ),
    );
    expect(result).toMatchObject({ answer: { profile: { id: expect.not.stringMatching(profile.id) } } });
    const [stored] = await api.runtime.db.query<{ profile_id: string }>('SELECT profile_id FROM events WHERE id = $1', [
      id,
    ]);
    expect(await api.runtime.db.query('SELECT 1 FROM profiles WHERE id = $1', [stored!.profile_id])).toHaveLength(1);
  });

  it('counts on an imported Tracardi session the events an event batch stores on it meanwhile', async () => {
    const sessionId = `race-tracardi-${randomUUID()}`;
    const { records } = api.runtime.root.importServices();
    // An event batch of the same session, its event written, not yet committed.
    await during(
      async (tx) => {
        await lockSessionCounts(tx, [sessionId]);
        await tx.query(
          `INSERT INTO events (id, type, session_id, source_id, occurred_at) VALUES ($1, 'page-view', $2, $3, now())`,
          [randomUUID(), sessionId, api.sourceId],
        );
      },
      () =>
        records.writeSessions([
          {
            id: sessionId,
            profileId: 'race-tracardi-p',
            sourceId: api.sourceId,
            device: {},
            os: {},
            app: {},
            context: {},
            metadata: {},
            createdAt: '2022-06-01T10:00:00Z',
            lastEventAt: '2022-06-01T10:00:00Z',
          },
        ]),
    );
    const [session] = await api.runtime.db.query('SELECT events_count FROM sessions WHERE id = $1', [sessionId]);
    expect(session).toEqual({ events_count: 1 });
  });

  it('locks the survivor of a merged id a settled session carries before the settle writes it', async () => {
    const [older, newer] = [await person(), await person()];
    const merged = await api.admin({
      method: 'POST',
      url: '/profiles/merge',
      payload: { ids: [older.profile.id, newer.profile.id] },
    });
    expect(merged.statusCode, merged.body).toBe(200);
    const [{ id: survivor }] = (await api.runtime.db.query<{ id: string }>(
      `SELECT id FROM profiles WHERE ids @> ARRAY[$1::text]`,
      [newer.profile.id],
    )) as [{ id: string }];
    await api.runtime.db.query(`INSERT INTO session_touches (session_id, events, touched_at) VALUES ($1, 1, now())`, [
      newer.session.id,
    ]);
    // Whether another writer could take the survivor's lock just before the settle writes it: two
    // shares settling sessions of each other's survivors would then deadlock.
    let lockable: boolean | undefined;
    const db = api.runtime.db;
    const probing = (tx: TransactionExecutor): TransactionExecutor => ({
      query: async (text, params) => {
        if (text.includes('DELETE FROM session_touches'))
          lockable = await db
            .query('SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE NOWAIT', [survivor])
            .then(() => true)
            .catch((error: { code?: string }) => (error.code === '55P03' ? false : Promise.reject(error)));
        return tx.query(text, params);
      },
      exec: (script) => tx.exec(script),
      savepoint: (work) => tx.savepoint(work),
    });
    const store = new SqlTrackingStore({
      kind: db.kind,
      schema: db.schema,
      query: (text, params) => db.query(text, params),
      exec: (script) => db.exec(script),
      transaction: (work) => db.transaction((tx) => work(probing(tx))),
      close: () => db.close(),
    });
    const settled = await store.transaction((tx) => store.settleTouches(tx, 10, { index: 0, of: 1 }));
    expect(settled.profileIds).toEqual([survivor]);
    expect(lockable).toBe(false);
  });

  it("finds an append's sessions by their ids, not by a scan of every session", async () => {
    const db = api.runtime.db;
    await db.query(
      `INSERT INTO profiles (id) SELECT 'plan-p' || g FROM generate_series(1, 200000) g;
       INSERT INTO sessions (id, profile_id) SELECT 'plan-s' || g, 'plan-p' || g FROM generate_series(1, 200000) g`,
    );
    await db.query('ANALYZE sessions, profiles');
    // The store as the import's commit has it, its append explained (not run) before it runs.
    const plans: unknown[] = [];
    const explaining = (tx: TransactionExecutor): TransactionExecutor => ({
      query: async (text, params) => {
        if (text.includes('INSERT INTO session_touches') && text.includes('unnest('))
          plans.push(await tx.query(`EXPLAIN (FORMAT JSON) ${text}`, params));
        return tx.query(text, params);
      },
      exec: (script) => tx.exec(script),
      savepoint: (work) => tx.savepoint(work),
    });
    const spied: Database = {
      kind: db.kind,
      schema: db.schema,
      query: (text, params) => db.query(text, params),
      exec: (script) => db.exec(script),
      transaction: (work) => db.transaction((tx) => work(explaining(tx))),
      close: () => db.close(),
    };
    const store = new SqlTrackingStore(spied);
    // Both statements: for a batch that may hold stored ids, and for one that does not.
    for (const idsMayBeStored of [true, false]) {
      const events = Array.from({ length: 1000 }, (_, at) => ({
        id: randomUUID(),
        type: 'plan-order',
        sessionId: `plan-s${((at * 37) % 200000) + 1}`,
        profileId: `plan-user-${at}`,
        properties: {},
        occurredAt: new Date(),
      }));
      const outcome = await store.transaction((tx) =>
        store.appendEvents(tx, { sourceId: api.sourceId, events, now: new Date() }, idsMayBeStored),
      );
      expect(outcome.stored).toHaveLength(1000);
    }
    const scanned: string[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (node['Node Type'] === 'Seq Scan') scanned.push(String(node['Relation Name']));
      for (const child of (node['Plans'] as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    expect(plans).toHaveLength(2);
    for (const plan of plans)
      walk((plan as { 'QUERY PLAN': { Plan: Record<string, unknown> }[] }[])[0]!['QUERY PLAN'][0]!.Plan);
    expect(scanned).not.toContain('sessions');
  });
});
