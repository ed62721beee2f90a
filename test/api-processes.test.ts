/**
 * `meridian api` with API_PROCESSES (needs PostgreSQL): the primary forks the processes that serve one
 * port, SIGTERM stops them all, one that dies stops the rest; on the embedded store it is refused.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from './support/processes.js';

const available = await postgresAvailable();

/** The processes whose parent is `pid` (from /proc: Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** How many of the TCP connections established to `port` each process holds (from /proc: Linux). */
function connectionsHeld(pids: number[], port: number): Map<number, number> {
  const established = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local address "ADDR:PORT" in hex; state 01 is ESTABLISHED; the socket's inode is the 10th field.
      if (fields.length > 9 && parseInt(fields[1]!.split(':')[1]!, 16) === port && fields[3] === '01')
        established.add(fields[9]!);
    }
  }
  const held = new Map<number, number>();
  for (const pid of pids) {
    let count = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode && established.has(inode)) count++;
      } catch {
        // closed meanwhile
      }
    }
    held.set(pid, count);
  }
  return held;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!available)('API_PROCESSES=2 on PostgreSQL', () => {
  let database: TestDatabase;
  let api: MeridianProcess;
  let port: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    port = await freePort();
    api = runMeridian(['api'], {
      DATABASE_URL: database.url,
      API_TOKEN: 'processes-token',
      API_PROCESSES: '2',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    await waitForHealthy(`http://127.0.0.1:${port}`, api);
  });

  afterAll(async () => {
    await api?.stop();
    await database?.drop();
  });

  it('serves /track from two processes sharing the port, and SIGTERM stops them all', async () => {
    // Both forked processes say they listen (on their own pid) before the port answers for sure.
    await expect.poll(() => api.output().match(/"msg":"api listening"/g)?.length ?? 0).toBe(2);
    const processes = childrenOf(api.child.pid!);
    expect(processes).toHaveLength(2);

    const created = await fetch(`http://127.0.0.1:${port}/event-sources`, {
      method: 'POST',
      headers: { authorization: 'Bearer processes-token', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'processes' }),
    });
    const source = ((await created.json()) as { id: string }).id;

    // Eight kept-alive connections: the primary hands new connections to its processes in turn.
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const track = () =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ source: { id: source }, events: [{ type: 'page-view' }] });
        const call = request(
          {
            host: '127.0.0.1',
            port,
            path: '/track',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        call.on('error', reject);
        call.end(body);
      });
    const statuses = await Promise.all(Array.from({ length: 80 }, track));
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    const held = connectionsHeld(processes, port);
    // The eight, and the connection fetch keeps alive after creating the source.
    expect([...held.values()].reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(8);
    for (const pid of processes) expect(held.get(pid)).toBeGreaterThan(0);
    agent.destroy();

    expect(await api.stop()).toBe(0);
    expect(processes.filter(alive)).toEqual([]);
  });
});

describe.skipIf(!available)('API_PROCESSES: a process that dies', () => {
  it('stops the others, and the primary exits 1', async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    const api = runMeridian(['api'], {
      DATABASE_URL: database.url,
      API_PROCESSES: '2',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    try {
      await waitForHealthy(`http://127.0.0.1:${port}`, api);
      await expect.poll(() => childrenOf(api.child.pid!).length).toBe(2);
      const [victim, other] = childrenOf(api.child.pid!) as [number, number];
      process.kill(victim, 'SIGKILL');
      expect(await api.exited).toBe(1);
      expect(alive(other)).toBe(false);
      expect(api.output()).toContain('an API process exited unasked');
    } finally {
      await api.stop();
      await database.drop();
    }
  });
});

describe('API_PROCESSES on the embedded store', () => {
  it('is refused in one line, before anything is opened', async () => {
    const api = runMeridian(['api'], { API_PROCESSES: '2', DATA_DIR: ':memory:', PORT: '0' });
    expect(await api.exited).toBe(2);
    expect(api.output().trim()).toBe(
      'meridian: invalid configuration: API_PROCESSES: 2 processes need PostgreSQL (DATABASE_URL): the embedded PGlite store is opened by one process only',
    );
  });
});
