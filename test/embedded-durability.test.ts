import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { freePort, runMeridian, waitForHealthy } from './support/processes.js';
import { serviceAvailable } from './support/services.js';

/** strace sees the system calls themselves: what reaches the disk, not what the code meant to do. */
const straceWorks = await serviceAvailable('strace (apt-get install strace)', async () => {
  const probe = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(probe.error?.message ?? probe.stderr.trim());
});

/** The paths of the files and directories under `root`, `root` included. */
function treeOf(root: string): string[] {
  return [root, ...readdirSync(root, { recursive: true, encoding: 'utf8' }).map((path) => join(root, path))];
}

const REQUESTS = 20;

// PGlite boots several times slower under strace.
describe.runIf(straceWorks)('meridian start (embedded) under strace', { timeout: 600_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'meridian-fsync-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('syncs a new store whole before it serves, and the WAL for every acknowledged /track', async () => {
    const dataDir = join(root, 'data');
    const pgdata = join(dataDir, 'pgdata');
    const log = join(root, 'strace.log');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', HEARTBEAT_INTERVAL_S: '0' };
    const strace = ['strace', '-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', log];
    const meridian = runMeridian(['start'], env, strace);
    await waitForHealthy(url, meridian, 480_000);
    await eventually(
      async () => meridian.output(),
      (output) => output.includes('event source:'),
    );
    const sourceId = /event source:\s+(\S+)/.exec(meridian.output())?.[1];

    // The paths strace saw synced.
    const synced = () => [...readFileSync(log, 'utf8').matchAll(/fsync\(\d+<([^>]+)>/g)].map((match) => match[1]!);
    const walSyncs = () => synced().filter((path) => path.startsWith(join(pgdata, 'pg_wal/'))).length;

    const before = walSyncs();
    for (let i = 0; i < REQUESTS; i++) {
      const response = await fetch(`${url}/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { id: sourceId }, events: [{ type: 'page-view' }] }),
      });
      expect(response.status).toBe(200);
    }
    const after = await eventually(
      async () => walSyncs(),
      (count) => count >= before + REQUESTS,
    );
    expect(after - before).toBeGreaterThanOrEqual(REQUESTS);

    // Meridian is strace's child: stopping it, not strace, keeps its shutdown in the log.
    const [meridianPid] = readFileSync(`/proc/${meridian.child.pid}/task/${meridian.child.pid}/children`, 'utf8')
      .trim()
      .split(' ');
    process.kill(Number(meridianPid), 'SIGTERM');
    expect(await meridian.exited).toBe(0);
    const everSynced = new Set(synced());
    expect(treeOf(pgdata).filter((path) => !everSynced.has(path))).toEqual([]);
  });
});
