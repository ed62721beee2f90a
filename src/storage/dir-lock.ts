import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';

const FRESH_LOCK_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writtenJustNow(lockPath: string): boolean {
  try {
    return Date.now() - statSync(lockPath).mtimeMs < FRESH_LOCK_MS;
  } catch {
    return false;
  }
}

/** Another process holds the store: a refusal the user acts on, not a failure. */
export class StoreInUseError extends Error {
  constructor(what: string, lockPath: string, owner?: number) {
    const by = owner
      ? ` by process ${owner}; stop it first (or, if that process is not Meridian, delete ${lockPath})`
      : '; stop it first';
    super(`${what} is in use${by}, or use PostgreSQL (DATABASE_URL) to share data between processes`);
    this.name = 'StoreInUseError';
  }
}

function inUse(what: string, lockPath: string, owner?: number): StoreInUseError {
  return new StoreInUseError(what, lockPath, owner);
}

/** The pid the lock file names, if it names one. */
function ownerIn(lockPath: string): number | undefined {
  try {
    const owner = Number(readFileSync(lockPath, 'utf8').trim());
    return Number.isInteger(owner) && owner > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** The owner the lock file names, if it is another process that is alive. */
function liveOwnerIn(lockPath: string): number | undefined {
  const owner = ownerIn(lockPath);
  return owner !== undefined && owner !== process.pid && alive(owner) ? owner : undefined;
}

/**
 * PGlite is one database engine inside one process: two processes on the same files would corrupt
 * them, so a store is opened under this lock. On Linux the lock is an abstract Unix socket named
 * after the lock file's real path: binding it is atomic, and the kernel frees it when its process
 * ends, however it ends, so two processes starting at the same moment after a crash cannot both
 * take the lock over. The lock file names the owner, and a live owner it names is respected too: a
 * Meridian from before the socket, or one on a Node.js release that names the socket differently.
 * Neither keeps apart containers that share the folder but not the network and process namespaces.
 */
export async function lockDirectory(lockPath: string, what: string): Promise<() => void> {
  if (process.platform !== 'linux') return lockWithFile(lockPath, what);
  // Nobody is meant to connect: a connection left open would keep this process alive.
  const server = createServer((connection) => connection.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: lockSocketName(lockPath) }, resolve);
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const owner = ownerIn(lockPath);
      // The file may still name a dead owner while the winner of the socket is about to write it.
      throw inUse(what, lockPath, owner !== undefined && alive(owner) ? owner : undefined);
    }
    // Node.js 20.4–20.7 cannot bind abstract names: the lock file, as elsewhere.
    return lockWithFile(lockPath, what);
  }
  server.unref();
  try {
    const owner = liveOwnerIn(lockPath);
    if (owner !== undefined) throw inUse(what, lockPath, owner);
    writeFileSync(lockPath, String(process.pid));
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    throw error;
  }
  return () => {
    // The file goes first: once the socket is closed, the next owner's file must not be removed.
    rmSync(lockPath, { force: true });
    server.close();
  };
}

/** The abstract socket's name: the same for every path to the lock file. */
export function lockSocketName(lockPath: string): string {
  const realPath = join(realpathSync(dirname(lockPath)), basename(lockPath));
  return `\0meridian-store-lock:${createHash('sha256').update(realPath).digest('hex')}`;
}

/**
 * Where there is no abstract socket, the lock file is the lock: it holds the owner's pid, and a lock
 * left by a dead process is taken over. Two processes taking over the same dead owner's lock at the
 * same moment can both succeed.
 */
export function lockWithFile(lockPath: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = ownerIn(lockPath);
      // An unreadable lock may be one being written this instant: held, unless it is old.
      const held = owner === undefined ? writtenJustNow(lockPath) : owner !== process.pid && alive(owner);
      if (held) throw inUse(what, lockPath, owner);
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}
