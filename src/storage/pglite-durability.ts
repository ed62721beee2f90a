import { closeSync, existsSync, fsyncSync, openSync, readdirSync, rmSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/** Puts what has been written to an open file (or directory) on stable storage: fsync(2) unless a test counts. */
export type SyncFile = (fd: number) => void;

/**
 * PGlite starts PostgreSQL with fsync off (`-F`): its commits return before anything is synced. With
 * fsync on, PostgreSQL keeps its own protocol: the WAL is synced at every COMMIT before the COMMIT
 * returns, data files, pg_control and the directories they live in at checkpoints, and the whole
 * folder when it starts after a crash. The WAL is synced with fsync() because the Emscripten runtime
 * under PGlite answers fdatasync() without doing anything, and its fsync() is the call this module
 * can reach (see SyncingNodeFS).
 */
const DURABLE_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams.filter((param) => param !== '-F'),
  ...['-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'synchronous_commit=on'],
];

/** The parts of Emscripten's NODEFS (PGlite's Node.js filesystem) this module reaches into. */
interface NodeFsInternals {
  stream_ops: { fsync?: (stream: { nfd?: number }) => number };
}

/** The exit code of a process stopped by a failed sync (EX_IOERR). */
export const EXIT_SYNC_FAILED = 74;

/**
 * After a failed fsync the OS may have dropped the pages it could not write, so no later sync can be
 * trusted: PostgreSQL PANICs for that reason, and inside PGlite a PANIC spins for ever. The process
 * stops instead, before the commit that needed the sync is acknowledged; the next start recovers from
 * the WAL, syncing the whole folder first.
 */
function stopAfterFailedSync(error: unknown): never {
  process.stderr.write(
    `meridian: the embedded store could not sync a file to disk (${error instanceof Error ? error.message : String(error)}); ` +
      'stopping so that nothing unsynced is acknowledged. The next start recovers from the write-ahead log.\n',
  );
  process.exit(EXIT_SYNC_FAILED);
}

/**
 * Emscripten's NODEFS writes straight to the files in the data folder, but has no fsync: PostgreSQL's
 * fsync() returns at once having done nothing. This gives it one, on the real file descriptor, so a
 * sync PostgreSQL asks for happens before PostgreSQL goes on.
 */
class SyncingNodeFS extends NodeFS {
  constructor(
    dataDir: string,
    private readonly syncFile: SyncFile,
  ) {
    super(dataDir);
  }

  override async init(pg: PGlite, options: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const setup = await super.init(pg, options);
    const giveNodefsAnFsync = (module: { NODEFS: unknown }) => {
      const nodefs = module.NODEFS as NodeFsInternals;
      nodefs.stream_ops.fsync = (stream) => {
        const fd = stream.nfd;
        if (fd === undefined) return 0;
        try {
          this.syncFile(fd);
        } catch (error) {
          stopAfterFailedSync(error);
        }
        return 0;
      };
    };
    const preRun = setup.emscriptenOpts.preRun ?? [];
    return { emscriptenOpts: { ...setup.emscriptenOpts, preRun: [...preRun, giveNodefsAnFsync] } };
  }
}

function pgliteOptions(dataDir: string, syncFile: SyncFile): PGliteOptions {
  return { fs: new SyncingNodeFS(dataDir, syncFile), startParams: [...DURABLE_START_PARAMS] };
}

/** Every file and directory under `root`, children before their directory, `root` last. */
async function treeOf(root: string): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) paths.push(...(await treeOf(path)));
    else if (entry.isFile()) paths.push(path);
  }
  paths.push(root);
  return paths;
}

/** How many files are synced at once: enough for the disk to batch its journal commits. */
const SYNC_CONCURRENCY = 8;

/** fsyncs every file and directory under `root`: PGlite's initdb syncs nothing. */
async function syncTree(root: string): Promise<void> {
  const pending = await treeOf(root);
  const worker = async () => {
    for (let path = pending.shift(); path !== undefined; path = pending.shift()) {
      const handle = await open(path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
}

function syncDirectory(path: string, syncFile: SyncFile): void {
  const fd = openSync(path, 'r');
  try {
    syncFile(fd);
  } finally {
    closeSync(fd);
  }
}

/** Beside a data folder while its cluster is being created: until it is gone, nothing was acknowledged. */
const creatingMarker = (dataDir: string) => join(dirname(dataDir), `${basename(dataDir)}.creating`);

/**
 * Opens a new PostgreSQL cluster in `dataDir` so that a crash or power cut at any moment leaves either
 * a complete, synced cluster or the marker that says creation did not finish: the marker is made
 * durable first, the cluster is created and every file and directory synced, then the marker goes.
 */
async function createCluster(dataDir: string, syncFile: SyncFile): Promise<PGlite> {
  const marker = creatingMarker(dataDir);
  if (existsSync(marker)) rmSync(dataDir, { recursive: true, force: true });
  else if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(
      `${dataDir} holds files but no PostgreSQL data (no PG_VERSION): move it away, or point DATA_DIR elsewhere`,
    );
  }
  closeSync(openSync(marker, 'w'));
  syncDirectory(dirname(dataDir), syncFile);
  const cluster = await PGlite.create(pgliteOptions(dataDir, syncFile));
  try {
    await syncTree(dataDir);
    rmSync(marker);
    syncDirectory(dirname(dataDir), syncFile);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/**
 * Opens PGlite on the data folder `dataDir` with every commit synced to disk before it returns,
 * creating the cluster first when there is none (or its creation was cut short). The caller holds the
 * folder's lock.
 */
export async function openDurablePGlite(dataDir: string, syncFile: SyncFile = fsyncSync): Promise<PGlite> {
  if (existsSync(creatingMarker(dataDir)) || !existsSync(join(dataDir, 'PG_VERSION')))
    return createCluster(dataDir, syncFile);
  return PGlite.create(pgliteOptions(dataDir, syncFile));
}
