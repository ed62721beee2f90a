import type { Consumer, JobQueue } from '../queue/port.js';
import { WORKFLOW } from '../queue/names.js';
import { runEvery } from '../shared/timer-loop.js';
import { executeRuns, sweep, type ExecutorDeps } from './executor.js';
import type { WorkflowJob } from './follow-up.js';

export interface WorkflowWorkerOptions {
  concurrency: number;
  /**
   * How often the sweep looks for runs left behind (pending without a wake-up, running under an expired
   * claim, raised events not tracked); 0 switches it off. A pending run gets this long to be woken.
   */
  sweepIntervalMs: number;
  /** Runs per job the sweep queues. */
  sweepBatch: number;
}

export interface WorkflowWorkerDeps extends ExecutorDeps {
  queue: JobQueue;
}

/**
 * The workflow worker: consumes `workflow` (run ids to execute) and, on a timer, sweeps. The queue
 * only wakes it; the runs are rows, so a job lost with Redis or with an in-process queue is made up
 * for by the sweep, and a job delivered twice finds its runs claimed or finished.
 */
export function startWorkflowWorker(deps: WorkflowWorkerDeps, options: WorkflowWorkerOptions): Consumer {
  const consumer = deps.queue.consume<WorkflowJob>(
    WORKFLOW,
    async (job) => void (await executeRuns(deps, job.data.runs)),
    { concurrency: options.concurrency },
  );
  const sweeper = runEvery(
    options.sweepIntervalMs,
    async () => {
      const runs = await sweep(deps, options.sweepIntervalMs, options.sweepBatch);
      if (runs.length === 0) return;
      deps.logger.info({ runs: runs.length }, 'workflow runs left behind: queued again');
      await deps.queue.enqueue<WorkflowJob>(WORKFLOW, { runs });
    },
    deps.logger,
    'workflow sweep failed; will retry',
  );
  return { close: async () => void (await Promise.all([consumer.close(), sweeper.stop()])) };
}
