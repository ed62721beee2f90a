import { executeRuns, type ExecutorDeps } from './executor.js';
import type { FlowRepository } from './ports.js';

/**
 * Live segmentation by flows (the reference's "workflow segmentation"): a segmentation job run runs
 * every enabled flow of type `segmentation` once per profile, with the profile as its context and no
 * event. Its add-segment / remove-segment actions decide membership in `profile.segments`.
 */

/** Profiles by id range ([fromId, toId), null for open), optionally only those updated in a window. */
export interface ProfileRange {
  fromId: string | null;
  toId: string | null;
  updatedSince?: string;
  updatedBefore?: string;
}

/** One `segmentation:live` job for a flow: the flow over one slice of the profiles, in one job run. */
export interface FlowSegmentationWork {
  flowId: string;
  /** The segmentation job run that queued it: a flow runs once per profile per job run. */
  jobRunId: string;
  selection: ProfileRange;
}

export interface SegmentationRunPage {
  /** The runs of the page's profiles, recorded now or by an earlier delivery of the same work. */
  runIds: string[];
  /** The last profile id of the page: the next page starts after it. */
  lastProfileId: string | null;
}

export interface SegmentationRunStore {
  /**
   * Records a pending run (trigger `segmentation`) for each of up to `limit` profiles of the range
   * after `after`, in id order. A run already recorded for (job run, flow, profile) is kept as it is.
   */
  recordSegmentationRuns(work: FlowSegmentationWork, after: string | null, limit: number): Promise<SegmentationRunPage>;
}

export interface FlowSegmentationDeps extends ExecutorDeps {
  flows: Pick<FlowRepository, 'get'>;
  segmentationRuns: SegmentationRunStore;
}

export interface FlowSegmentationReport {
  profiles: number;
  /** Runs this call executed; runs done by an earlier delivery are not executed again. */
  executed: number;
  failed: number;
}

/** Profiles recorded, executed and committed together. */
export const FLOW_SEGMENTATION_PAGE = 100;

/**
 * Runs one flow over one slice of profiles, a page at a time: the page's runs are recorded, then
 * executed as any recorded run is (claimed, effects replayed on the locked profile, committed with the
 * result). A run left pending by a crash is executed by the next delivery or the workflow worker's sweep.
 */
export async function runFlowSegmentation(
  deps: FlowSegmentationDeps,
  work: FlowSegmentationWork,
  pageSize = FLOW_SEGMENTATION_PAGE,
): Promise<FlowSegmentationReport> {
  const report: FlowSegmentationReport = { profiles: 0, executed: 0, failed: 0 };
  const flow = await deps.flows.get(work.flowId);
  if (!flow || !flow.enabled || flow.type !== 'segmentation') {
    deps.logger.info({ flow: work.flowId }, 'segmentation flow gone, disabled or retyped: work skipped');
    return report;
  }
  let after: string | null = null;
  for (;;) {
    const page = await deps.segmentationRuns.recordSegmentationRuns(work, after, pageSize);
    report.profiles += page.runIds.length;
    const executed = await executeRuns(deps, { ids: page.runIds });
    report.executed += executed.length;
    report.failed += executed.filter((run) => run.status === 'failed').length;
    if (page.runIds.length < pageSize || page.lastProfileId === null) return report;
    after = page.lastProfileId;
  }
}
