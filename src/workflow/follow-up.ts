import type { JobQueue } from '../queue/port.js';
import type { CommitFollowUp, CommittedRequest } from '../tracking/tracker.js';
import { executeRuns, mergeAnswers, type ExecutedRun, type ExecutorDeps, type StoredAnswer } from './executor.js';
import type { Rule } from './model.js';
import { runIdFor } from './run-ids.js';
import { WORKFLOW, type WorkflowWakeUp } from './worker.js';

/** The enabled event rules of enabled flows an event matches, in rule order (cached: read on every event). */
export interface EventRuleLookup {
  forEvent(type: string, sourceId: string): Promise<readonly { rule: Rule; answersClient: boolean }[]>;
}

export interface FollowUpDeps extends ExecutorDeps {
  rules: EventRuleLookup;
  queue: JobQueue;
}

/**
 * After /track's commit (which recorded the runs, and finished those of local flows itself): runs
 * whose flow answers the client are executed here, and with those the commit finished fill the
 * answer; for the others the workflow worker is woken. Runs are named by id
 * (derived from rule and event), so nothing is read back from the commit. A queue that does not take
 * the wake-up, a run that fails or a rule the cache does not know yet loses nothing: the worker's
 * sweep executes every recorded run that is left pending.
 */
export class WorkflowFollowUp implements CommitFollowUp {
  constructor(private readonly deps: FollowUpDeps) {}

  async afterCommit(committed: CommittedRequest): Promise<{ response: Record<string, unknown>; ux: unknown[] }> {
    const finished = new Set(committed.inlineRuns.map((run) => run.id));
    const answering: string[] = [];
    const inline: string[] = [];
    let wake = false;
    // An import's batch is thousands of events of one type: its rules are looked up once, not per event.
    const rulesOf = new Map<string, Awaited<ReturnType<EventRuleLookup['forEvent']>>>();
    for (const event of committed.events) {
      let rules = rulesOf.get(event.type);
      if (!rules) rulesOf.set(event.type, (rules = await this.deps.rules.forEvent(event.type, committed.sourceId)));
      for (const { rule, answersClient } of rules) {
        const id = runIdFor(rule.id, event.id);
        // A raised event has no client to answer: its runs go to the worker like the others.
        const answers = answersClient && committed.channel !== 'workflow';
        if (answers) answering.push(id);
        // Runs the commit finished itself need neither the worker nor an execution here.
        if (finished.has(id)) continue;
        if (answers) inline.push(id);
        else wake = true;
      }
    }
    const [, executed] = await Promise.all([wake && this.wakeWorker(), this.execute(inline)]);
    return mergeAnswers(answering, [...committed.inlineRuns, ...executed, ...(await this.stored(inline, executed))]);
  }

  private async wakeWorker(): Promise<void> {
    try {
      await this.deps.queue.enqueue<WorkflowWakeUp>(WORKFLOW, {});
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'workflow worker not woken: its sweep will execute the runs');
    }
  }

  private async execute(runs: string[]): Promise<ExecutedRun[]> {
    if (runs.length === 0) return [];
    try {
      return await executeRuns(this.deps, { ids: runs });
    } catch (error) {
      this.deps.logger.error({ err: error, runs }, 'workflow runs not executed: the sweep will');
      return [];
    }
  }

  /** Runs this call did not execute may be done already: a retried request gets the same answer. */
  private async stored(runs: string[], executed: ExecutedRun[]): Promise<StoredAnswer[]> {
    const done = new Set(executed.map((run) => run.id));
    const others = runs.filter((id) => !done.has(id));
    if (others.length === 0) return [];
    try {
      return await this.deps.runs.answers(others);
    } catch (error) {
      this.deps.logger.error({ err: error, runs: others }, 'workflow answers not read');
      return [];
    }
  }
}
