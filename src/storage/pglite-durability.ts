import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
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
 * can reach (see syncingNodeFS).
 */
export const DURABLE_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams.filter((param) => param !== '-F'),
  ...['-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'synchronous_commit=on'],
];

/** The parts of Emscripten's NODEFS (PGlite's Node.js filesystem) this module reaches into. */
interface NodeFsInternals {
  stream_ops: { fsync?: (stream: { nfd?: number }) => number };
  /** Runs a Node.js fs call, turning its error into an errno the C code under it sees. */
  tryFSOperation<T>(operation: () => T): T;
}

/**
 * Emscripten's NODEFS writes straight to the files in the data folder, but has no fsync: PostgreSQL's
 * fsync() returns at once having done nothing. This gives it one, on the real file descriptor, so a
 * sync PostgreSQL asks for happens before PostgreSQL goes on. A failed sync reaches PostgreSQL as an
 * errno, and PostgreSQL stops rather than acknowledge a commit it could not make durable.
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
        nodefs.tryFSOperation(() => this.syncFile(fd));
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

/** fsyncs every file and directory under `root` (PGlite's initdb syncs nothing). */
export async function syncTree(root: string): Promise<void> {
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

/**
 * Creates the PostgreSQL cluster for `dataDir` so that a crash or power cut at any moment leaves
 * either no cluster (the next start creates it again) or a complete one: it is made in a staging
 * folder beside `dataDir`, synced, and renamed into place; the rename is made durable too.
 */
async function createCluster(dataDir: string, syncFile: SyncFile): Promise<void> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(`${dataDir} holds files but no PostgreSQL data (no PG_VERSION): move it away, or point DATA_DIR elsewhere`);
  }
  const staging = join(dirname(dataDir), `${basename(dataDir)}.init`);
  rmSync(staging, { recursive: true, force: true });
  const cluster = await PGlite.create(pgliteOptions(staging, syncFile));
  await cluster.close();
  await syncTree(staging);
  // rename(2) replaces an empty folder, which older releases created before PGlite filled it.
  renameSync(staging, dataDir);
  syncDirectory(dirname(dataDir), syncFile);
}

/**
 * Opens PGlite on the data folder `dataDir` with every commit synced to disk before it returns,
 * creating the cluster first when there is none. The caller holds the folder's lock.
 */
export async function openDurablePGlite(dataDir: string, syncFile: SyncFile = fsyncSync): Promise<PGlite> {
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await createCluster(dataDir, syncFile);
  return PGlite.create(pgliteOptions(dataDir, syncFile));
}

