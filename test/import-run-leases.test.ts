/**
 * Import runs' leases (migration 0039): a running run is its worker's while the lease is renewed; once
 * it runs out (the worker was killed), a new claim takes the run over from its checkpoint and the old
 * claim is refused. A job handed out while the lease is live looks again once it would run out.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import { RunNotHeld, type BatchOutcome, type RunWork } from '../src/importing/ports.js';
import { createImportRun, IMPORT_RUNS } from '../src/importing/runner.js';
import { SqlImportRecords } from '../src/storage/sql-import-records.js';
import { SqlImports } from '../src/storage/sql-imports.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { eventually } from './support/eventually.js';

const LEASE_MS = 1000;

const batch = (rows: number, line: number): BatchOutcome => ({
  read: rows,
  stored: rows,
  rejections: [],
  checkpoint: { line },
  position: line,
  activeMs: 10,
});

for (const backend of BACKENDS) {
  const available = await backend.available();

  describe.skipIf(!available)(`import run leases on ${backend.name}`, () => {
    let db: Awaited<ReturnType<typeof openTestDatabase>> | undefined;
    afterEach(async () => {
      await db?.dispose();
      db = undefined;
    });

    it('stores no profile for a claim that lost its run: a late batch would set older values over newer ones', async () => {
      db = await openTestDatabase(backend.name);
      const imports = new SqlImports(db);
      await imports.create(
        'late',
        { name: 'late', source: { kind: 'csv', path: '/nowhere.csv' }, target: 'profiles' },
        undefined,
      );
      const runId = (await createImportRun(imports, 'late')).id;
      const records = new SqlImportRecords(db, COMMIT_STEPS, { keys: [], placeholders: [], maxMergeProfiles: 10 }, 4);
      const row = (tier: string) => [{ id: 'late-person', traits: { tier }, pii: {} }];

      const stalled = (await imports.claimRun(runId, LEASE_MS)) as RunWork;
      await sleep(LEASE_MS + 50);
      const taker = (await imports.claimRun(runId, LEASE_MS)) as RunWork;
      expect(await records.upsertProfiles(row('gold'), { runId, claim: taker.claim })()).toBe(1);
      // The stalled worker wakes and stores the batch it had mapped, with the value the row before held.
      await expect(records.upsertProfiles(row('silver'), { runId, claim: stalled.claim })()).rejects.toThrow(
        RunNotHeld,
      );
      expect(await db.query(`SELECT traits FROM profiles WHERE id = 'late-person'`)).toEqual([
        { traits: { tier: 'gold' } },
      ]);
    });

    it('holds a running run while its lease is renewed, and gives it to a new claim once it runs out', async () => {
      db = await openTestDatabase(backend.name);
      const imports = new SqlImports(db);
      await imports.create(
        'lease',
        { name: 'lease', source: { kind: 'csv', path: '/nowhere.csv' }, target: 'profiles' },
        undefined,
      );
      const runId = (await createImportRun(imports, 'lease')).id;

      const first = (await imports.claimRun(runId, LEASE_MS)) as RunWork;
      expect(first.claim).toEqual(expect.any(String));
      expect(await imports.getRun(runId)).toMatchObject({ state: 'running', leased: true });
      const held = await imports.claimRun(runId, LEASE_MS);
      expect(held).toEqual({ heldForMs: expect.any(Number) });
      expect((held as { heldForMs: number }).heldForMs).toBeGreaterThan(0);
      expect((held as { heldForMs: number }).heldForMs).toBeLessThanOrEqual(LEASE_MS);

      // Renewed by batches and between them, the lease outlives its first term.
      expect(await imports.recordBatch(runId, first.claim, batch(10, 10), LEASE_MS)).toBe(true);
      await sleep(LEASE_MS / 2);
      expect(await imports.renewLease(runId, first.claim, LEASE_MS)).toBe(true);
      await sleep(LEASE_MS / 2 + 50);
      expect(await imports.claimRun(runId, LEASE_MS)).toHaveProperty('heldForMs');

      // Its worker gone (no renewal), the lease runs out: the run waits for a worker, and the next claim takes it.
      await sleep(LEASE_MS + 50);
      expect(await imports.getRun(runId)).toMatchObject({ state: 'running', leased: false, rowsRead: 10 });
      const second = (await imports.claimRun(runId, LEASE_MS)) as RunWork;
      expect(second.claim).not.toBe(first.claim);
      expect(second.checkpoint).toEqual({ line: 10 });
      expect(await imports.getRun(runId)).toMatchObject({ state: 'running', leased: true });

      // The old claim, should its worker live, is refused: it stops at its next batch or wait.
      expect(await imports.recordBatch(runId, first.claim, batch(10, 20), LEASE_MS)).toBe(false);
      expect(await imports.renewLease(runId, first.claim, LEASE_MS)).toBe(false);
      expect(await imports.isRunning(runId, first.claim)).toBe(false);
      expect(await imports.recordBatch(runId, second.claim, batch(10, 20), LEASE_MS)).toBe(true);
      expect(await imports.getRun(runId)).toMatchObject({ rowsRead: 20, position: 20 });

      await imports.finishRun(runId, second.claim, 'done');
      expect(await imports.getRun(runId)).toMatchObject({ state: 'done', leased: false });
      expect(await imports.claimRun(runId, LEASE_MS)).toBeUndefined();
    });

    it('takes no paused or cancelled run, however long ago its lease ran out', async () => {
      db = await openTestDatabase(backend.name);
      const imports = new SqlImports(db);
      await imports.create(
        'idle',
        { name: 'idle', source: { kind: 'csv', path: '/nowhere.csv' }, target: 'profiles' },
        undefined,
      );
      const runId = (await createImportRun(imports, 'idle')).id;
      expect(await imports.claimRun(runId, 1)).toHaveProperty('claim');
      await imports.transition(runId, ['running'], 'paused');
      await sleep(20);
      expect(await imports.claimRun(runId, LEASE_MS)).toBeUndefined();
      await imports.transition(runId, ['paused'], 'cancelled');
      expect(await imports.claimRun(runId, LEASE_MS)).toBeUndefined();
    });

    it('queues again at start a run whose lease ran out, and leaves one another process holds to it', async () => {
      db = await openTestDatabase(backend.name);
      const imports = new SqlImports(db);
      for (const id of ['held', 'lapsed'])
        await imports.create(
          id,
          { name: id, source: { kind: 'csv', path: '/nowhere.csv' }, target: 'profiles' },
          undefined,
        );
      const held = (await createImportRun(imports, 'held')).id;
      const lapsed = (await createImportRun(imports, 'lapsed')).id;
      const holder = (await imports.claimRun(held, 60_000)) as RunWork;
      expect(await imports.claimRun(lapsed, 1)).toHaveProperty('claim');
      await sleep(20);

      expect((await imports.requeueUnfinished()).toSorted()).toEqual([held, lapsed].toSorted());
      expect(await imports.getRun(lapsed)).toMatchObject({ state: 'queued', leased: false });
      // The holder (a `meridian import` process) goes on storing it, not refused at its next batch.
      expect(await imports.getRun(held)).toMatchObject({ state: 'running', leased: true });
      expect(await imports.recordBatch(held, holder.claim, batch(10, 10), LEASE_MS)).toBe(true);
    });

    it('takes over a run left running before leases (no lease at all)', async () => {
      db = await openTestDatabase(backend.name);
      const imports = new SqlImports(db);
      await imports.create(
        'old',
        { name: 'old', source: { kind: 'csv', path: '/nowhere.csv' }, target: 'profiles' },
        undefined,
      );
      const runId = (await createImportRun(imports, 'old')).id;
      await db.query(`UPDATE import_runs SET state = 'running', claim = 'earlier-version' WHERE id = $1`, [runId]);
      expect(await imports.getRun(runId)).toMatchObject({ leased: false });
      expect(await imports.claimRun(runId, LEASE_MS)).toHaveProperty('claim');
    });
  });
}

describe('a job handed out while another worker holds the run', () => {
  let api: TestApi | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    api = dir = undefined;
  });

  it('keeps the lease of a run waiting for its throttle longer than the lease, renewed on a timer', async () => {
    api = await startTestApi('pglite', { IMPORT_LEASE_S: '1' }, { workers: ['all'] });
    dir = mkdtempSync(join(tmpdir(), 'meridian-lease-'));
    const path = join(dir, 'slow.csv');
    writeFileSync(path, 'id,who\n1,a\n2,b\n3,c\n');
    const created = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'slow',
        source: { kind: 'csv', path },
        eventSourceId: api.sourceId,
        eventType: 'slow-lease-row',
        mapping: { profileId: 'who' },
        // One row every four seconds: four leases between batches.
        options: { rowsPerSecond: 0.25 },
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const started = await api.admin({ method: 'POST', url: `/imports/${created.json<{ id: string }>().id}/run` });
    const runId = started.json<{ id: string }>().id;
    const job = async () =>
      (await api!.admin({ method: 'GET', url: `/jobs/${runId}` })).json<Record<string, unknown>>();
    await eventually(job, (view) => view['rowsStored'] === 1);
    for (let look = 0; look < 5; look++) {
      await sleep(600);
      expect(await job()).toMatchObject({ state: 'running', rowsStored: 1, waitingForWorker: false });
    }
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/cancel` })).statusCode).toBe(200);
  });

  it('is not dropped: it looks again once the lease would run out, and the run is taken over and done', async () => {
    api = await startTestApi('pglite', {}, { workers: ['all'] });
    dir = mkdtempSync(join(tmpdir(), 'meridian-lease-'));
    const path = join(dir, 'rows.csv');
    writeFileSync(path, `id,who\n${Array.from({ length: 50 }, (_, i) => `${i},w${i % 5}`).join('\n')}\n`);
    const created = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'held',
        source: { kind: 'csv', path },
        eventSourceId: api.sourceId,
        eventType: 'held-row',
        mapping: { profileId: 'who' },
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const { imports } = api.runtime.root.repositories;
    const runId = (await createImportRun(imports, created.json<{ id: string }>().id)).id;
    // A worker took it and was killed at once: its lease runs out unrenewed.
    expect(await imports.claimRun(runId, 1500)).toHaveProperty('claim');
    // Its job handed out again (as BullMQ does once the killed worker's lock expires) before the lease ran out.
    await api.runtime.queue.enqueue(IMPORT_RUNS, { runId }, { attempts: 1, jobId: `import-${runId}-again` });
    await eventually(
      () => api!.runtime.queue.counts(IMPORT_RUNS),
      (counts) => counts.delayed === 1,
    );
    const job = async () =>
      (await api!.admin({ method: 'GET', url: `/jobs/${runId}` })).json<Record<string, unknown>>();
    expect(await job()).toMatchObject({ state: 'running', rowsRead: 0 });
    const done = await eventually(job, (view) => view['state'] === 'done', 15_000);
    expect(done).toMatchObject({ rowsRead: 50, rowsStored: 50, waitingForWorker: false });
    const [events] = await api.runtime.db.query<{ n: number; ids: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events WHERE type = 'held-row'`,
    );
    expect(events).toEqual({ n: 50, ids: 50 });
  });
});
