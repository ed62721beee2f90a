import type { JobQueue } from '../queue/port.js';

/**
 * Waits until the queues have nothing waiting, running or delayed. Used without Redis, where a
 * job command does its own work in-process instead of leaving it to a worker.
 */
export async function untilQueuesIdle(
  queue: JobQueue,
  names: readonly string[],
  onProgress: (pending: number) => void,
): Promise<void> {
  let lastReport = 0;
  for (;;) {
    const counts = await Promise.all(names.map((name) => queue.counts(name)));
    const pending = counts.reduce((sum, count) => sum + count.waiting + count.active + count.delayed, 0);
    if (pending === 0) return;
    if (Date.now() - lastReport > 2000) {
      onProgress(pending);
      lastReport = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
