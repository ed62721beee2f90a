/**
 * Where the two cores go during a run: CPU seconds of the API child, of the PostgreSQL backends
 * serving the bench database, and of the load generator, read from /proc (Linux only).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every mainstream Linux build

/** User + system CPU seconds of one process, or undefined where /proc is not readable. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** What a PostgreSQL backend was doing when sampled: `state` or `state: wait_event_type/wait_event`. */
export type WaitTally = Map<string, number>;

interface ActivityRow {
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
}

/**
 * Samples pg_stat_activity of one database every `intervalMs` until stopped: a cheap wait-event
 * profile of the backends (row-lock waits, WAL flushes, waiting for the client, running).
 */
export function sampleWaits(
  query: (database: string) => Promise<ActivityRow[]>,
  database: string,
  intervalMs = 50,
): { stop(): Promise<{ tally: WaitTally; samples: number }> } {
  const tally: WaitTally = new Map();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const rows = await query(database);
        samples++;
        for (const row of rows) {
          if (row.state === 'idle') continue;
          const key = `${row.state ?? '?'}${row.wait_event_type ? `: ${row.wait_event_type}/${row.wait_event}` : ''}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
        }
      } catch {
        // a missed sample is not worth failing the benchmark for
      }
      await new Promise((done) => setTimeout(done, intervalMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { tally, samples };
    },
  };
}

/** "active: Lock/transactionid 41 %, idle in transaction: Client/ClientRead 30 %, …" of busy backend samples. */
export function describeWaits(tally: WaitTally, samples: number): string {
  const busy = [...tally.values()].reduce((sum, count) => sum + count, 0);
  if (busy === 0 || samples === 0) return 'no busy backend sampled';
  const parts = [...tally.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([key, count]) => `${key} ${Math.round((count / busy) * 100)} %`);
  return `${(busy / samples).toFixed(1)} busy backends on average; ${parts.join(', ')}`;
}

/** CPU seconds of each process, by pid, at one moment. */
export type CpuSnapshot = Map<number, number>;

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const pid of pids) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) snapshot.set(pid, seconds);
  }
  return snapshot;
}

/**
 * CPU seconds spent between two snapshots by the processes of the second: a process that appeared
 * in between (a backend a pool opened during the run) counts whole; one that ended is lost.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** `pid` and every process below it (a cluster primary's workers), from /proc. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [pid];
  }
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(parent, [...(parents.get(parent) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}
