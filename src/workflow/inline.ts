import { copyJson, deepEquals } from '../condition/values.js';
import { eventDocument } from '../mapping/apply.js';
import type { Logger } from '../shared/logger.js';
import type { CommittedEvent, DecidedRun, FinishedInCommit } from '../tracking/commit-steps.js';
import type { BatchFlows, CommitFlows, InlineEvent, InlineOutcome } from '../tracking/ports.js';
import { failedRun, outcomeOf, runEventDocument } from './executor.js';
import { runFlow } from './engine.js';
import type { Flow, HttpClient, RunContext, RunResult } from './model.js';
import { IDENTIFYING_PARTS } from './profile-changes.js';
import type { ActionRegistry } from './registry.js';
import type { RuleCache, RuleSnapshot } from './rule-cache.js';
import { runIdFor } from './run-ids.js';

/**
 * Local flows run inside the commit of their event. A flow all of whose actions are local (their spec
 * says so: no I/O, no effect beyond the profile, session, event and answer) needs nothing the commit
 * does not hold: it runs on the profile the commit locked and read, its changes are written with the
 * commit's own profile write, its tags with the event, and its run is stored finished in the same
 * transaction. A flow with any other action keeps the durable deferred path (recorded pending, then
 * claimed and executed by the executor).
 */

/** Local actions send no request; the engine's limits hold as everywhere. */
const NO_REQUESTS: HttpClient = {
  send: () => Promise.reject(new Error('a local flow sends no request')),
};

/** Whether every node of the flow uses a local action. */
export function runsInCommit(flow: Flow, actions: ActionRegistry): boolean {
  return flow.graph.nodes.every((node) => actions.get(node.action)?.local === true);
}

/** The rules' stored state in a transaction: their generation, and whether a paused run waits for an event. */
export interface RulesState {
  /** Null when the generation is not stored (its row deleted): then no cached rules can be confirmed. */
  generation: number | null;
  pausedRunsWait: boolean;
}

export interface InlineFlowsDeps<Tx> {
  rules: Pick<RuleCache, 'current' | 'forget'>;
  actions: ActionRegistry;
  /** Reads the rules' state in the commit's transaction. */
  state(tx: Tx): Promise<RulesState>;
  /** Whether a profile holds a value at an identity key. */
  holdsKeys(profile: Record<string, unknown>): boolean;
  logger: Logger;
  clock?: () => Date;
}

export class InlineFlows<Tx> implements CommitFlows<Tx> {
  private readonly local = new WeakMap<Flow, boolean>();

  constructor(private readonly deps: InlineFlowsDeps<Tx>) {}

  async begin(): Promise<BatchFlows<Tx>> {
    return new BatchRuns(this.deps, await this.deps.rules.current(), (flow) => this.runsInCommit(flow));
  }

  /** Decided once per flow object of a snapshot: the graph does not change under it. */
  private runsInCommit(flow: Flow): boolean {
    let local = this.local.get(flow);
    if (local === undefined) this.local.set(flow, (local = runsInCommit(flow, this.deps.actions)));
    return local;
  }
}

class BatchRuns<Tx> implements BatchFlows<Tx> {
  /** The runs this attempt of the transaction finished, by event id and rule id. */
  private finished = new Map<string, Map<string, { id: string; finished: FinishedInCommit }>>();

  constructor(
    private readonly deps: InlineFlowsDeps<Tx>,
    private readonly snapshot: RuleSnapshot,
    private readonly isLocal: (flow: Flow) => boolean,
  ) {}

  runsInline(type: string, sourceId: string): boolean {
    return this.snapshot.forEvent(type, sourceId).some(({ flow }) => this.isLocal(flow));
  }

  async confirm(tx: Tx): Promise<{ pausedRunsWait: boolean } | undefined> {
    // An attempt starts here: what an earlier attempt of the transaction ran was rolled back.
    this.finished = new Map();
    const state = await this.deps.state(tx);
    if (state.generation !== null && state.generation === this.snapshot.generation) {
      return { pausedRunsWait: state.pausedRunsWait };
    }
    this.deps.rules.forget();
    return undefined;
  }

  async run({ record, profile, session }: InlineEvent): Promise<InlineOutcome> {
    const clock = this.deps.clock ?? (() => new Date());
    const outcome: InlineOutcome = { identifying: false, tags: [], runs: [] };
    const event = runEventDocument(eventDocument(record), record.metadata);
    let current = profile;
    for (const { rule, flow } of this.snapshot.forEvent(record.type, record.sourceId)) {
      if (!this.isLocal(flow)) continue;
      const id = runIdFor(rule.id, record.id);
      const startedAt = clock();
      // The run changes its own copy of the profile: a failed run leaves `current` as it was.
      const context: RunContext = {
        profile: current && copyJson(current),
        session,
        event,
        payload: {},
        flow: { id: flow.id, name: flow.name, type: flow.type },
        memory: {},
      };
      const result = await this.execute(id, flow, context);
      const { eventTags, effects } = outcomeOf(result);
      const failed = result.status === 'failed';
      if (!failed) current = context.profile;
      if (!failed) outcome.tags.push(...eventTags.filter((tag) => !outcome.tags.includes(tag)));
      let byRule = this.finished.get(record.id);
      if (!byRule) this.finished.set(record.id, (byRule = new Map()));
      byRule.set(rule.id, {
        id,
        finished: {
          status: failed ? 'failed' : 'completed',
          trace: result.trace,
          response: result.response,
          ux: result.ux,
          memory: result.memory,
          error: result.error ?? null,
          effects: failed ? [] : effects,
          startedAt,
          finishedAt: clock(),
        },
      });
      if (!failed) outcome.runs.push({ id, response: result.response, ux: result.ux });
    }
    if (profile !== null && current !== null && !deepEquals(current, profile)) {
      outcome.profile = current;
      outcome.identifying =
        IDENTIFYING_PARTS.some((part) => !deepEquals(current[part], profile[part])) && this.deps.holdsKeys(current);
    }
    return outcome;
  }

  runs(events: readonly CommittedEvent[]): DecidedRun[] {
    return events.flatMap((event) =>
      event.runFlows === false
        ? []
        : this.snapshot.forEvent(event.type, event.sourceId).map(({ rule, answersClient }) => {
            const done = this.finished.get(event.id)?.get(rule.id);
            const id = done?.id ?? runIdFor(rule.id, event.id);
            const finished = done?.finished;
            return {
              id,
              ruleId: rule.id,
              flowId: rule.flowId,
              eventId: event.id,
              answersClient,
              ...(finished && { finished }),
            };
          }),
    );
  }

  /** The engine's answer; a fault of the engine itself ends the run as failed, never the commit. */
  private async execute(id: string, flow: Flow, context: RunContext): Promise<RunResult> {
    try {
      return await runFlow(flow, context, { actions: this.deps.actions, http: NO_REQUESTS, inPlace: true });
    } catch (error) {
      this.deps.logger.error({ run: id, err: error }, 'workflow engine failed');
      return failedRun(error instanceof Error ? error.message : String(error));
    }
  }
}
