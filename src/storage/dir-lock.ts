import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';

const FRESH_LOCK_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one database engine inside one process: two processes on the same files would corrupt
 * them. The lock file holds the owner's pid; a lock left by a dead process is taken over.
 */
export function lockDirectory(lockPath: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockPath, 'utf8').trim());
      const unreadable = !Number.isInteger(owner) || owner <= 0;
      // An unreadable lock may be one being written this instant: held, unless it is old.
      const held = unreadable ? Date.now() - statSync(lockPath).mtimeMs < FRESH_LOCK_MS : owner !== process.pid && alive(owner);
      if (held) {
        throw new Error(`${what} is in use${unreadable ? '' : ` by process ${owner}`}; stop it first, or use PostgreSQL (DATABASE_URL) to share data between processes`);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}
