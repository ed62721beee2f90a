import type { SqlExecutor } from '../storage/database.js';
import { queueForSegmentationStep } from '../storage/segmentation-queue.js';
import { recordWorkflowRunsStep, resumeOnEventsStep } from '../storage/sql-workflow-runs.js';
import type { CommitStep } from '../tracking/commit-steps.js';

/** The steps that need nothing but the writer's transaction. */
export const COMMIT_STEPS: readonly CommitStep<SqlExecutor>[] = [
  queueForSegmentationStep,
  recordWorkflowRunsStep,
  resumeOnEventsStep,
];

/**
 * The steps every commit runs, in this order, after its changes are written and in its transaction:
 * `/track`, the heartbeat and mapping backfills are handed this one list. A capability that reacts to
 * committed events or profile changes adds its step here. Identification comes first, so the steps
 * after it see the survivors of the merges it made.
 */
export function commitSteps(identification: CommitStep<SqlExecutor>): readonly CommitStep<SqlExecutor>[] {
  return [identification, ...COMMIT_STEPS];
}
