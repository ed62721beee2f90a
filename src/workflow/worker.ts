import type { Consumer, JobQueue, QueueConsumers } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import { runEvery } from '../shared/timer-loop.js';
import { executeRuns, raiseLeftBehind, type ExecutorDeps, type WorkflowExecution } from './executor.js';

/** The logical queue that wakes the workflow worker (the runs themselves are rows in PostgreSQL). */
export const WORKFLOW = 'workflow';

/** A `workflow` job only wakes the worker: the runs to execute are rows, taken oldest first. */
export type WorkflowWakeUp = Record<string, never>;

export interface WorkflowWorkerOptions {
  /** Batches executed at once in this process. */
  concurrency: number;
  /** Runs claimed, executed and committed together. */
  batch: number;

  /**
   * How often the sweep executes runs left behind (pending without a wake-up, running under an expired
   * claim) and tracks raised events left untracked; 0 switches it off. Runs whose flow answers the
   * client are left this long to the API process that recorded them.
   */
  sweepIntervalMs: number;
}

export interface WorkflowWorkerDeps extends ExecutorDeps {
  queue: JobQueue;
}

/**
 * The workflow worker. Each wake-up (a `workflow` job, or the sweep's timer) executes due runs in
 * batches until none is left. Wake-ups that come while `concurrency` batches are running only ask the
 * running ones to look again, so a burst of /track requests costs a few claims, not one per request.
 * A wake-up lost with Redis or with an in-process queue is made up for by the sweep.
 */
export function startWorkflowWorker(deps: WorkflowWorkerDeps, options: WorkflowWorkerOptions): Consumer {
  let draining = 0;
  let again = false;
  const drain = async (): Promise<void> => {
    if (draining >= options.concurrency) {
      again = true;
      return;
    }
    draining++;
    try {
      for (;;) {
        again = false;
        const executed = await executeRuns(deps, { due: options.batch, graceMs: options.sweepIntervalMs });
        if (executed.length < options.batch && !again) return;
      }
    } finally {
      draining--;
    }
  };
  const consumer = deps.queue.consume<WorkflowWakeUp>(WORKFLOW, drain, { concurrency: options.concurrency });
  const sweeper = runEvery(
    options.sweepIntervalMs,
    async () => {
      await raiseLeftBehind(deps, options.batch);
      await drain();
    },
    deps.logger,
    'workflow sweep failed; will retry',
  );
  return { close: async () => void (await Promise.all([consumer.close(), sweeper.stop()])) };
}

/** How often the sweep runs, and how many runs a claim and a commit take. */
const SWEEP_INTERVAL_MS = 1000;
const BATCH = 100;

/** The workflow worker as a worker registers it. */
export const workflowConsumers: QueueConsumers<
  { workflow: WorkflowExecution; queue: JobQueue; logger: Logger },
  { concurrency: number }
> = {
  queues: [WORKFLOW],
  start: (deps, options) =>
    startWorkflowWorker(
      { ...deps.workflow, queue: deps.queue, logger: deps.logger },
      { concurrency: options.concurrency, sweepIntervalMs: SWEEP_INTERVAL_MS, batch: BATCH },
    ),
};
