import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lockDirectory, lockSocketName, lockWithFile } from './dir-lock.js';

const lockPath = () => join(mkdtempSync(join(tmpdir(), 'meridian-lock-')), 'pgdata.lock');

/** The compiled module, as `meridian start` loads it (`npm test` builds first). */
const COMPILED = fileURLToPath(new URL('../../dist/src/storage/dir-lock.js', import.meta.url));

/**
 * A process that waits until `startAt` (ms since the epoch), tries the lock with `lock`, prints `won`
 * or `lost`, and, if it won, holds the lock until it is killed.
 */
function contender(
  path: string,
  { startAt = 0, lock = 'lockDirectory' }: { startAt?: number; lock?: 'lockDirectory' | 'lockWithFile' } = {},
) {
  const script = `
    const { ${lock}: lock } = await import(${JSON.stringify(COMPILED)});
    while (Date.now() < ${startAt});
    try { await lock(${JSON.stringify(path)}, 'the store'); console.log('won'); setInterval(() => {}, 1000); }
    catch (error) { console.log(/in use/.test(error.message) ? 'lost' : 'failed: ' + error.message); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const outcome = new Promise<string>((resolve) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve(output.trim());
    });
    child.on('exit', () => resolve(output.trim()));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, outcome, kill: () => (child.kill('SIGKILL'), exited) };
}

/** A pid no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe.runIf(process.platform === 'linux')('lockDirectory (Linux: an abstract socket)', () => {
  it('refuses a second owner while the first lives, naming it, and is free the moment the owner is killed', async () => {
    const path = lockPath();
    const owner = contender(path);
    expect(await owner.outcome).toBe('won');
    expect(readFileSync(path, 'utf8')).toBe(String(owner.child.pid));
    await expect(lockDirectory(path, 'the store')).rejects.toThrow(
      new RegExp(`the store is in use by process ${owner.child.pid}`),
    );
    // Killed: no exit handler runs, the lock file stays, and the lock is free all the same.
    await owner.kill();
    expect(existsSync(path)).toBe(true);
    const release = await lockDirectory(path, 'the store');
    expect(readFileSync(path, 'utf8')).toBe(String(process.pid));
    await expect(lockDirectory(path, 'the store')).rejects.toThrow(/in use by process/);
    release();
    expect(existsSync(path)).toBe(false);
    (await lockDirectory(path, 'the store'))();
  });

  it('respects a live owner that the lock file names without holding the socket (an older Meridian), and says what to do', async () => {
    const path = lockPath();
    const older = contender(path, { lock: 'lockWithFile' });
    try {
      await older.outcome;
      await expect(lockDirectory(path, 'the store')).rejects.toThrow(
        `the store is in use by process ${older.child.pid}; stop it first (or, if that process is not Meridian, delete ${path})`,
      );
    } finally {
      await older.kill();
    }
    // The socket was given back when the lock was refused: with the owner gone, the lock is free.
    (await lockDirectory(path, 'the store'))();
  });

  it('drops connections to its socket, so that nobody can keep the owner alive or talk to it', async () => {
    const path = lockPath();
    const release = await lockDirectory(path, 'the store');
    try {
      const client = createConnection({ path: lockSocketName(path) });
      await new Promise((resolve, reject) => {
        client.on('close', resolve);
        client.on('error', reject);
      });
    } finally {
      release();
    }
  });

  it('gives the socket back when the lock file cannot be written', async () => {
    const path = lockPath();
    mkdirSync(path);
    await expect(lockDirectory(path, 'the store')).rejects.toThrow(/EISDIR/);
    rmdirSync(path);
    (await lockDirectory(path, 'the store'))();
  });

  it("lets exactly one of several processes starting at the same moment over a dead owner's lock file take it", async () => {
    const path = lockPath();
    writeFileSync(path, String(await deadPid()));
    const startAt = Date.now() + 1500;
    const contenders = Array.from({ length: 6 }, () => contender(path, { startAt }));
    try {
      const outcomes = await Promise.all(contenders.map((one) => one.outcome));
      expect(outcomes.filter((outcome) => outcome === 'won')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome === 'lost')).toHaveLength(5);
    } finally {
      await Promise.all(contenders.map((one) => one.kill()));
    }
  });
});

describe('lockWithFile (where there is no abstract socket)', () => {
  it("takes the lock, refuses a second owner while the first lives, and takes over a dead owner's", async () => {
    const path = lockPath();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    writeFileSync(path, String(other.pid));
    expect(() => lockWithFile(path, 'the store')).toThrow(new RegExp(`in use by process ${other.pid}`));
    other.kill();
    await new Promise((resolve) => other.on('exit', resolve));
    const release = lockWithFile(path, 'the store');
    expect(readFileSync(path, 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(path)).toBe(false);
  });
});
