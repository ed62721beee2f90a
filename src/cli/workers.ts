import { ConfigError } from '../config/config.js';
import { importConsumers, type ImportServices } from '../importing/runner.js';
import { mappingConsumers } from '../mapping/backfill.js';
import type { Consumer, JobQueue, QueueConsumers } from '../queue/port.js';
import { schedulerConsumers, type Collect, type SchedulerSettings } from '../scheduler/worker.js';
import { segmentationConsumers } from '../segmentation/worker.js';
import type { Logger } from '../shared/logger.js';
import { triggerConsumers } from '../triggers/worker.js';
import type { WorkflowExecution } from '../workflow/executor.js';
import { workflowConsumers } from '../workflow/worker.js';
import type { Identity } from '../identity/identity.js';
import type { SqlExecutor } from '../storage/database.js';
import type { Repositories } from './composition.js';

/** What a worker is handed: the ports the composition root builds, never an adapter it must make. */
export interface WorkerDeps extends Repositories {
  importing: ImportServices;
  queue: JobQueue;
  logger: Logger;
  workflow: WorkflowExecution;
  /** Merges (a flow's merge effect: `identity.mergeByKeys(tx, profileId, keys)`). */
  identity: Identity<SqlExecutor>;
  /** The process's collect pipeline: scheduled events are tracked through it. */
  collect: Collect;
}

/** The role's choices, the same for every worker; each reads what concerns it. */
export interface WorkerOptions {
  /** Jobs at once per queue. */
  concurrency: number;
  /** How often the segmentation worker re-segments the profiles tracking changed; 0: never. */
  pendingIntervalMs: number;
  /** How often the segmentation worker queues the re-decisions saves could not queue; 0: never. */
  resegmentSweepMs: number;
  /** How often the trigger worker looks for segment changes; 0: never. */
  triggerIntervalMs: number;
  /** The scheduler worker's sweep, claim and attempts (SCHEDULER_*). */
  scheduler: SchedulerSettings;
}

/** The role's defaults; the scheduler's settings come from the configuration (the composition root adds them). */
export const DEFAULT_WORKER_OPTIONS: Omit<WorkerOptions, 'scheduler'> = {
  concurrency: 2,
  pendingIntervalMs: 1000,
  resegmentSweepMs: 10_000,
  triggerIntervalMs: 500,
};

/** What `meridian worker NAME` starts: the logical queues it consumes, and how to start consuming. */
export interface Worker {
  name: string;
  queues: readonly string[];
  start(deps: WorkerDeps, options: WorkerOptions): Consumer;
}

/** One consumer made of several, closed together, once however often it is asked to. */
function allOf(consumers: readonly Consumer[]): Consumer {
  let closing: Promise<void> | undefined;
  return {
    close: () => (closing ??= Promise.all(consumers.map((consumer) => consumer.close())).then(() => undefined)),
  };
}

/** A named worker made of capabilities' consumers, each declared in its own folder. */
export function worker(name: string, ...parts: QueueConsumers<WorkerDeps, WorkerOptions>[]): Worker {
  return {
    name,
    queues: parts.flatMap((part) => part.queues),
    start: (deps, options) => allOf(parts.map((part) => part.start(deps, options))),
  };
}

/**
 * The workers `meridian worker NAME…` runs by name and `start` runs all of. A capability joins with
 * one line here: its `QueueConsumers` under a new or an existing name.
 */
export const WORKERS: readonly Worker[] = [
  // Tracardi's segmentation & mapping worker: one deployment consumes all three queues.
  worker('segmentation', segmentationConsumers, mappingConsumers),
  worker('trigger', triggerConsumers),
  worker('workflow', workflowConsumers),
  // Tracardi's upgrade & import worker; data migrations run in every process that holds the store instead.
  worker('import', importConsumers),
  // Delayed events and resumes of paused flows; any number of them share the due items.
  worker('scheduler', schedulerConsumers),
];

/** The named workers in the registry's order, each once; `all` is every one. */
export function selectWorkers(names: readonly string[], registry: readonly Worker[] = WORKERS): Worker[] {
  if (names.includes('all')) return [...registry];
  const unknown = names.filter((name) => !registry.some((known) => known.name === name));
  if (unknown.length > 0) {
    throw new ConfigError(
      'worker',
      `unknown worker ${unknown.join(', ')}; expected ${registry.map((known) => known.name).join(', ')} or all`,
    );
  }
  return registry.filter((known) => names.includes(known.name));
}

/** The workers that consume any of these queues: those a job command runs itself without Redis. */
export function workersFor(queues: readonly string[], registry: readonly Worker[] = WORKERS): Worker[] {
  return registry.filter((each) => each.queues.some((queue) => queues.includes(queue)));
}

/** Starts workers in this process; closing the result stops them, letting running jobs finish. */
export function startWorkers(workers: readonly Worker[], deps: WorkerDeps, options: WorkerOptions): Consumer {
  return allOf(
    workers.map((each) => each.start({ ...deps, logger: deps.logger.child({ worker: each.name }) }, options)),
  );
}
