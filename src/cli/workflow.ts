import type { Config } from '../config/config.js';
import { MappingCache } from '../mapping/cache.js';
import type { Consumer, JobQueue } from '../queue/port.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../storage/database.js';
import { SqlEventSources } from '../storage/sql-event-sources.js';
import { SqlMappings } from '../storage/sql-mappings.js';
import { SqlRules } from '../storage/sql-rules.js';
import { SqlTrackingStore } from '../storage/sql-tracking-store.js';
import { SqlWorkflowRuns } from '../storage/sql-workflow-runs.js';
import { TrackCommit } from '../tracking/commit.js';
import { SourceCache } from '../tracking/source-cache.js';
import { Tracker, type TrackerOptions } from '../tracking/tracker.js';
import { ACTIONS } from '../workflow/actions/index.js';
import { runFlow } from '../workflow/engine.js';
import { DEFAULT_EXECUTOR_SETTINGS, type ExecutorDeps, type RaiseEvent } from '../workflow/executor.js';
import { fetchHttpClient } from '../workflow/fetch-http.js';
import { WorkflowFollowUp } from '../workflow/follow-up.js';
import { RuleCache } from '../workflow/rule-cache.js';
import { startWorkflowWorker } from '../workflow/worker.js';
import { COMMIT_STEPS } from './commit-steps.js';

/**
 * Workflow wiring: the executor, the follow-up that runs flows after /track's commit, and the worker.
 * Raised events go back through a Tracker (`collect` with the `workflow` channel), which itself follows
 * its commits with workflow runs: hence `raise` reaches the tracker lazily.
 */
export function workflowExecutor(
  db: Database,
  logger: Logger,
  config: Pick<Config, 'workflowClaimMs'>,
  raise: RaiseEvent,
): ExecutorDeps {
  return {
    runs: new SqlWorkflowRuns(db, COMMIT_STEPS),
    runFlow: (flow, context) => runFlow(flow, context, { actions: ACTIONS, http: fetchHttpClient }),
    raise,
    logger: logger.child({ capability: 'workflow' }),
    settings: { ...DEFAULT_EXECUTOR_SETTINGS, leaseMs: config.workflowClaimMs },
  };
}

/** The tracker every entry uses, its commits followed by the workflow runs they recorded. */
export function trackerWithWorkflows(
  db: Database,
  queue: JobQueue,
  logger: Logger,
  config: Pick<Config, 'workflowClaimMs'>,
  options: Omit<TrackerOptions, 'followUp'> & { rules: RuleCache; sources?: SourceCache; mappings?: MappingCache },
): Tracker {
  const { rules, sources, mappings, ...trackerOptions } = options;
  const executor = workflowExecutor(db, logger, config, (payload) => tracker.collect(payload, { channel: 'workflow' }));
  const tracker: Tracker = new Tracker(
    new TrackCommit(new SqlTrackingStore(db), COMMIT_STEPS),
    sources ?? new SourceCache(new SqlEventSources(db)),
    mappings ?? new MappingCache(new SqlMappings(db)),
    { ...trackerOptions, followUp: new WorkflowFollowUp({ ...executor, rules, queue }) },
  );
  return tracker;
}

/** How often the workflow worker sweeps for runs left behind. */
export const WORKFLOW_SWEEP_MS = 1000;
/** Runs the workflow worker executes and commits together. */
const WORKFLOW_BATCH = 100;

/**
 * `meridian worker workflow`: executes queued runs and sweeps. Events its flows raise are tracked by
 * `tracker` when given (the API process's own), else by one of its own.
 */
export function startWorkflowWorkers(
  db: Database,
  queue: JobQueue,
  logger: Logger,
  config: Pick<Config, 'workflowClaimMs' | 'groupCommitMaxBatch' | 'groupCommitMaxWaitMs'>,
  options: { concurrency: number; sweepIntervalMs: number; tracker?: Tracker },
): Consumer {
  const tracker =
    options.tracker ??
    trackerWithWorkflows(db, queue, logger, config, {
      rules: new RuleCache(new SqlRules(db)),
      maxBatch: config.groupCommitMaxBatch,
      maxWaitMs: config.groupCommitMaxWaitMs,
      lanes: 1,
    });
  const executor = workflowExecutor(db, logger, config, (payload) => tracker.collect(payload, { channel: 'workflow' }));
  const worker = startWorkflowWorker(
    { ...executor, queue },
    {
      concurrency: options.concurrency,
      sweepIntervalMs: options.sweepIntervalMs,
      batch: WORKFLOW_BATCH,
    },
  );
  return {
    close: async () => {
      await worker.close();
      if (!options.tracker) await tracker.drain();
    },
  };
}
