import type { Consumer, JobQueue, QueueConsumers } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import { runEvery } from '../shared/timer-loop.js';
import { WORKFLOW, type WorkflowWakeUp } from '../workflow/worker.js';
import type { ConsumedBatch, TriggerStore } from './ports.js';
import { decide } from './trigger.js';

export interface TriggerWorkerDeps {
  triggers: TriggerStore;
  /** Wakes the workflow worker once runs are recorded. */
  queue: JobQueue;
  logger: Logger;
}

export interface TriggerWorkerOptions {
  /** How often the worker looks at the outbox; 0 switches it off. */
  intervalMs: number;
  /** Changes claimed, decided and consumed per transaction. */
  batch: number;
}

/** Changes per transaction: one statement each for the claim, the rules, the runs and the consumption. */
export const TRIGGER_BATCH = 500;

/**
 * Consumes the outbox until a batch comes back short. A batch whose changes all wait behind another
 * worker's (same profile, earlier change) consumes nothing: the next tick takes them.
 */
export async function drainChanges(deps: Pick<TriggerWorkerDeps, 'triggers'>, batch: number): Promise<ConsumedBatch> {
  const total: ConsumedBatch = { claimed: 0, consumed: 0, runs: 0, skipped: 0 };
  for (;;) {
    const done = await deps.triggers.consume(batch, decide);
    total.claimed += done.claimed;
    total.consumed += done.consumed;
    total.runs += done.runs;
    total.skipped += done.skipped;
    if (done.claimed < batch || done.consumed === 0) return total;
  }
}

/** The runs are rows: a wake-up the queue does not take only leaves them to the workflow worker's sweep. */
async function wakeWorkflowWorker(deps: TriggerWorkerDeps): Promise<void> {
  try {
    await deps.queue.enqueue<WorkflowWakeUp>(WORKFLOW, {});
  } catch (error) {
    deps.logger.warn({ err: error }, 'workflow worker not woken: its sweep will execute the runs');
  }
}

/**
 * The trigger worker: on a timer, turns segment changes into recorded workflow runs, then wakes the
 * workflow worker, which executes them.
 */
export function startTriggerWorker(deps: TriggerWorkerDeps, options: TriggerWorkerOptions): Consumer {
  const loop = runEvery(
    options.intervalMs,
    async () => {
      const done = await drainChanges(deps, options.batch);
      if (done.runs > 0) await wakeWorkflowWorker(deps);
      if (done.skipped > 0) deps.logger.info({ skipped: done.skipped }, 'segment changes of deleted profiles skipped');
      if (done.consumed > 0) deps.logger.debug({ changes: done.consumed, runs: done.runs }, 'segment changes consumed');
    },
    deps.logger,
    'trigger worker failed; will retry',
  );
  return { close: () => loop.stop() };
}

/** The trigger worker as a worker registers it: no queue, a timer whose period the role sets. */
export const triggerConsumers: QueueConsumers<TriggerWorkerDeps, { triggerIntervalMs: number }> = {
  queues: [],
  start: (deps, options) => startTriggerWorker(deps, { intervalMs: options.triggerIntervalMs, batch: TRIGGER_BATCH }),
};
