import { spawnSync } from 'node:child_process';
import {
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from './database.js';
import { openPGlite } from './pglite.js';
import { EXIT_SYNC_FAILED, type SyncFile } from './pglite-durability.js';

/** The compiled adapter, for a process this test lets die (`npm test` builds first). */
const COMPILED = fileURLToPath(new URL('../../dist/src/storage/pglite.js', import.meta.url));

const WAL_SEGMENT = /\/pg_wal\/[0-9A-F]{24}$/;

/**
 * Syncs for real, and notes each sync: the file (by its descriptor's path) and which of the watched
 * strings the file held when it was synced.
 */
class SyncRecorder {
  readonly syncs: { path: string; holds: string[] }[] = [];
  private readonly watched: string[] = [];

  watch(text: string): void {
    this.watched.push(text);
  }

  walSyncsSince(index: number): { path: string; holds: string[] }[] {
    return this.syncs.slice(index).filter((sync) => WAL_SEGMENT.test(sync.path));
  }

  readonly syncFile: SyncFile = (fd) => {
    const path = readlinkSync(`/proc/self/fd/${fd}`);
    const content = WAL_SEGMENT.test(path) ? contentOf(fd) : '';
    fsyncSync(fd);
    this.syncs.push({ path, holds: this.watched.filter((text) => content.includes(text)) });
  };
}

function contentOf(fd: number): string {
  const buffer = Buffer.alloc(fstatSync(fd).size);
  readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.toString('latin1');
}

describe('the embedded store on disk', { timeout: 180_000 }, () => {
  const roots: string[] = [];
  const newRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'meridian-durable-'));
    roots.push(root);
    return root;
  };
  afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  async function open(dataDir: string, recorder: SyncRecorder): Promise<Database> {
    return openPGlite({ dataDir, schema: 'meridian_test', syncFile: recorder.syncFile });
  }

  it('syncs the WAL segment holding a commit before the commit returns, once per commit however many rows', async () => {
    const recorder = new SyncRecorder();
    const db = await open(join(newRoot(), 'pgdata'), recorder);
    try {
      await db.exec('CREATE SCHEMA meridian_test; CREATE TABLE meridian_test.acknowledged (note text)');
      for (const note of ['first-acknowledged-note', 'second-acknowledged-note']) {
        recorder.watch(note);
        const before = recorder.syncs.length;
        await db.transaction((tx) => tx.query('INSERT INTO acknowledged (note) VALUES ($1)', [note]));
        expect(recorder.walSyncsSince(before).filter((sync) => sync.holds.includes(note))).toHaveLength(1);
      }

      const before = recorder.syncs.length;
      await db.transaction((tx) =>
        tx.query(`INSERT INTO acknowledged (note) SELECT 'batch-' || i FROM generate_series(1, 200) AS i`),
      );
      expect(recorder.walSyncsSince(before)).toHaveLength(1);

      const beforeRead = recorder.syncs.length;
      await db.query('SELECT count(*) FROM acknowledged');
      expect(recorder.syncs.length).toBe(beforeRead);
    } finally {
      await db.close();
    }
  });

  it('creates a store under a marker made durable first, and makes again one whose creation was cut short', async () => {
    const root = newRoot();
    const dataDir = join(root, 'pgdata');
    // What a power cut during an earlier first start leaves behind.
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'PG_VERSION'), '1');
    writeFileSync(join(root, 'pgdata.creating'), '');
    const recorder = new SyncRecorder();
    const db = await open(dataDir, recorder);
    try {
      expect(readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim()).toMatch(/^\d{2}$/);
      expect(existsSync(join(root, 'pgdata.creating'))).toBe(false);
      // The folder holding the marker is synced when the marker is made and when it goes.
      expect(recorder.syncs.filter((sync) => sync.path === realpathSync(root))).toHaveLength(2);
      await db.exec('CREATE SCHEMA meridian_test; CREATE TABLE meridian_test.kept (note text)');
      await db.transaction((tx) => tx.query(`INSERT INTO kept (note) VALUES ('kept across a restart')`));
    } finally {
      await db.close();
    }

    const reopened = await open(dataDir, new SyncRecorder());
    try {
      expect(await reopened.query('SELECT note FROM kept')).toEqual([{ note: 'kept across a restart' }]);
    } finally {
      await reopened.close();
    }
  });

  it('stops the process before acknowledging a commit whose sync failed, and the next open recovers', async () => {
    const dataDir = join(newRoot(), 'pgdata');
    const script = `
      import { fsyncSync } from 'node:fs';
      const { openPGlite } = await import(${JSON.stringify(COMPILED)});
      let failing = false;
      const syncFile = (fd) => {
        if (failing) throw new Error('EIO: i/o error, fsync');
        fsyncSync(fd);
      };
      const db = await openPGlite({ dataDir: ${JSON.stringify(dataDir)}, schema: 'public', syncFile });
      await db.exec("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('synced')");
      failing = true;
      await db.transaction((tx) => tx.query("INSERT INTO kept VALUES ('unsynced')"));
      console.log('acknowledged');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 170_000,
    });
    expect(child.stderr).toContain('could not sync a file to disk (EIO: i/o error, fsync)');
    expect(child.status).toBe(EXIT_SYNC_FAILED);
    expect(child.stdout).not.toContain('acknowledged');

    const reopened = await open(dataDir, new SyncRecorder());
    try {
      expect(await reopened.query(`SELECT note FROM public.kept WHERE note = 'synced'`)).toEqual([{ note: 'synced' }]);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a data folder that holds other files, and leaves it and its lock alone', async () => {
    const dataDir = join(newRoot(), 'pgdata');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'notes.txt'), 'not a database');
    const refusal = /holds files but no PostgreSQL data \(no PG_VERSION\)/;
    await expect(open(dataDir, new SyncRecorder())).rejects.toThrow(refusal);
    await expect(open(dataDir, new SyncRecorder())).rejects.toThrow(refusal);
    expect(existsSync(join(dataDir, 'notes.txt'))).toBe(true);
  });
});
