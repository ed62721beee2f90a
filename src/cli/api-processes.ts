/**
 * `meridian api` with API_PROCESSES=N: a node:cluster primary that serves nothing itself. It applies
 * the migrations once, then forks N processes that each run the whole API role on the same port (the
 * primary hands them the connections in turn).
 *
 * No silent restarts: a process that exits while nobody asked it to makes the primary stop the
 * others and exit 1, so the process manager sees the failure and restarts the whole API. A re-fork
 * would hide a crash loop, and would run again what only the first process runs at start-up.
 * SIGTERM or SIGINT stops every process (each finishes its pending commits), then the primary exits.
 */
import cluster from 'node:cluster';
import type { Logger } from '../shared/logger.js';

/** Whether this process is the primary of several API processes (it supervises, it does not serve). */
export const supervisesApiProcesses = (processes: number): boolean => processes > 1 && cluster.isPrimary;

/** Whether this process is the one of its API that runs the once-per-start work (alone, or forked first). */
export const firstApiProcess = (): boolean => !cluster.isWorker || cluster.worker?.id === 1;

/** Whether this process was forked by a primary that has already applied the migrations. */
export const forkedApiProcess = (): boolean => cluster.isWorker;

/** Forks `count` API processes and watches them until they are all gone, then exits (0 when stopped on a signal). */
export function superviseApiProcesses(count: number, logger: Logger): void {
  let live = count;
  let stopping = false;
  let failed = false;
  const stopAll = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  cluster.on('exit', (worker, code, signal) => {
    live--;
    if (!stopping) {
      logger.error(
        { pid: worker.process.pid, code, signal },
        'an API process exited unasked: stopping the others (exit code 1)',
      );
      failed = true;
      stopAll();
    } else if (code !== 0) {
      failed = true;
    }
    if (live === 0) process.exit(failed ? 1 : 0);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      logger.info({ signal, processes: live }, 'shutting down the API processes');
      stopAll();
    });
  }
  for (let i = 0; i < count; i++) cluster.fork();
  logger.info({ processes: count }, 'api processes started');
}
