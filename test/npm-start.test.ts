import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { freePort, runMeridian, runNpmStart, waitForHealthy, type MeridianProcess } from './support/processes.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes npm started for the script (with the server's pid among them or below them). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthcheck`)).ok;
  } catch {
    return false;
  }
}

/**
 * A process manager stops `npm start` by signalling npm's pid: the server must stop with it, freeing
 * the port and the data folder's lock, and not live on as an orphan.
 */
describe.skipIf(process.platform !== 'linux')('npm start under a process manager', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meridian-npm-start-'));
  const started: MeridianProcess[] = [];
  afterAll(async () => {
    for (const process of started) await process.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function npmStart() {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const npm = runNpmStart({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', HEARTBEAT_INTERVAL_S: '0' });
    started.push(npm);
    await waitForHealthy(url, npm, 90_000);
    const children = childrenOf(npm.child.pid!);
    expect(children.length).toBeGreaterThan(0);
    return { npm, url, children };
  }

  /** The data folder's lock is free: `meridian start` on it comes up. */
  async function secondStartComesUp() {
    const port = await freePort();
    const next = runMeridian(['start'], {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      HEARTBEAT_INTERVAL_S: '0',
    });
    try {
      await waitForHealthy(`http://127.0.0.1:${port}`, next, 60_000);
    } finally {
      expect(await next.stop()).toBe(0);
    }
  }

  // SIGTERM is what a process manager or a terminal sends; SIGKILL npm cannot forward, so the server
  // must notice on its own that its parent is gone.
  it.each(['SIGTERM', 'SIGKILL'] as const)(
    '%s to npm stops the server: port and data lock freed',
    { timeout: 240_000 },
    async (signal) => {
      const { npm, url, children } = await npmStart();
      npm.child.kill(signal);
      await npm.exited;
      const left = await eventually(
        async () => children.filter(alive),
        (pids) => pids.length === 0,
      );
      expect(left).toEqual([]);
      expect(await answers(url)).toBe(false);
      await secondStartComesUp();
    },
  );
});
