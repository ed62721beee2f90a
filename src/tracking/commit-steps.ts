/**
 * Commit steps: what reacts to committed events and profile changes runs inside the writer's own
 * transaction, after the changes are written, so it commits or rolls back with them. Every writer
 * (`/track`, the heartbeat, mapping backfills) runs the same ordered list; a capability that reacts to
 * what was committed adds a step to it, never a call to each writer.
 */

export interface CommittedEvent {
  id: string;
  type: string;
  profileId: string | null;
  sessionId: string | null;
  sourceId: string;
  occurredAt: Date;
  /** false: recorded without starting workflow rules (an import with `options.runFlows: false`). */
  runFlows?: false;
}

export interface CommittedChanges {
  writer: 'track' | 'heartbeat' | 'backfill' | 'workflow' | 'import';
  /**
   * Events this transaction stores (a repeated id is not in here; /track names those its lock found
   * not yet stored, so that its steps go out with its writes).
   */
  events: CommittedEvent[];
  /**
   * Profiles whose stored state changed, with the event types that changed them (segmentation reads
   * these). Each profile appears once.
   */
  profiles: { id: string; eventTypes: string[] }[];
  /**
   * Profiles whose traits, pii or data the writer wrote in this transaction (event-to-profile mappings,
   * flows, a profiles import), so that it holds their row locks; identity claims their keys.
   */
  documents?: string[];
  /** Those of `documents` a flow run inside the commit changed (identity records merges they cause as by a flow). */
  flowDocuments?: string[];
  /**
   * The writer matched its events against the workflow rules itself, at the rules' stored state in this
   * transaction: `runs` are all the runs they start (the workflow steps store them instead of matching
   * the events in SQL); `pausedRunsWait`: whether any paused run waits for an event.
   */
  flowsMatched?: { runs: DecidedRun[]; pausedRunsWait: boolean };
}

/** A workflow run a writer's commit decided on: to do (recorded pending), or done inside the commit. */
export interface DecidedRun {
  id: string;
  ruleId: string;
  flowId: string;
  eventId: string;
  answersClient: boolean;
  /** Set when the commit ran it itself: stored finished, with its event. */
  finished?: FinishedInCommit;
}

/** A run as the commit that ran it stores it (the run history's fields). */
export interface FinishedInCommit {
  status: 'completed' | 'failed';
  trace: unknown[];
  response: Record<string, unknown>;
  ux: unknown[];
  memory: Record<string, unknown>;
  error: { node: string; message: string } | null;
  /** What it keeps with it (its logs). */
  effects: unknown[];
  startedAt: Date;
  finishedAt: Date;
}

/** What a step tells the steps after it and the writer: profiles it merged away, each to its survivor. */
export interface StepOutcome {
  mergedInto: ReadonlyMap<string, string>;
}

export interface CommitStep<Tx> {
  name: string;
  /**
   * Only writes, never merges: it is sent together with the independent steps next to it, so a flush
   * pays one round trip for them instead of one each.
   */
  independent?: true;
  run(tx: Tx, changes: CommittedChanges): Promise<void | StepOutcome>;
}

/**
 * Runs the steps in order; a transaction that committed nothing has nothing to react to. When a step
 * merges profiles (identification points), the steps after it see the survivors in place of the
 * merged-away ids, and the writer gets the map to answer with the survivors.
 */
export async function runCommitSteps<Tx>(
  steps: readonly CommitStep<Tx>[],
  tx: Tx,
  changes: CommittedChanges,
): Promise<Map<string, string>> {
  const mergedInto = new Map<string, string>();
  if (changes.events.length === 0 && changes.profiles.length === 0) return mergedInto;
  let current = changes;
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    if (step.independent) {
      const together = [step];
      while (steps[index + 1]?.independent) together.push(steps[++index]!);
      const seen = current;
      await Promise.all(together.map((each) => each.run(tx, seen)));
      continue;
    }
    const outcome = await step.run(tx, current);
    if (!outcome || outcome.mergedInto.size === 0) continue;
    for (const [from, to] of outcome.mergedInto) mergedInto.set(from, to);
    for (const from of mergedInto.keys()) mergedInto.set(from, survivorOf(mergedInto, from));
    current = followMerges(current, mergedInto);
  }
  return mergedInto;
}

/** Merges chain (a into b, then b into c): an id's survivor is at the end of its chain. */
function survivorOf(mergedInto: ReadonlyMap<string, string>, id: string): string {
  let current = id;
  while (mergedInto.has(current)) current = mergedInto.get(current)!;
  return current;
}

function followMerges(changes: CommittedChanges, mergedInto: ReadonlyMap<string, string>): CommittedChanges {
  const follow = (id: string) => mergedInto.get(id) ?? id;
  const types = new Map<string, Set<string>>();
  for (const profile of changes.profiles) {
    const id = follow(profile.id);
    const set = types.get(id) ?? new Set<string>();
    for (const type of profile.eventTypes) set.add(type);
    types.set(id, set);
  }
  return {
    writer: changes.writer,
    events: changes.events.map((event) =>
      event.profileId === null ? event : { ...event, profileId: follow(event.profileId) },
    ),
    profiles: [...types].map(([id, eventTypes]) => ({ id, eventTypes: [...eventTypes] })),
    documents: changes.documents && [...new Set(changes.documents.map(follow))],
    ...(changes.flowDocuments && { flowDocuments: [...new Set(changes.flowDocuments.map(follow))] }),
    ...(changes.flowsMatched && { flowsMatched: changes.flowsMatched }),
  };
}
