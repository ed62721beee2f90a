import type { ProfileDocument } from '../mapping/apply.js';
import { runCommitSteps, type CommitStep, type CommittedChanges } from './commit-steps.js';
import {
  SystemEvent,
  type InlineRunAnswer,
  type ProfileState,
  type SessionState,
  type TrackCommand,
  type TrackOutcome,
} from './model.js';
import type {
  BatchCommitter,
  BatchFlows,
  BatchKeys,
  BatchWrites,
  CommitFlows,
  LockedBatch,
  TrackingStore,
} from './ports.js';
import {
  applyProfileMappings,
  sessionDocument,
  wholeProfileDocument,
  type ProfileMappingOutcome,
} from './profile-mappings.js';
import { applyTrackCommand, VisitLedger } from './visit.js';

/** What a batch decided, before anything is written. */
interface DecidedBatch {
  ledger: VisitLedger;
  /** Per command: where its events went. */
  applied: ReturnType<typeof applyTrackCommand>[];
  mapped: ProfileMappingOutcome | undefined;
  writes: BatchWrites;
}

/**
 * The commit use case of `/track`: in one transaction of the store, lock and read what the batch
 * names, apply the visit rules and the event-to-profile mappings in memory in arrival order, have the
 * changes written, then run the commit steps on what was stored. `commit` returns once the
 * transaction has committed, and only then are the requests answered.
 *
 * The steps are issued right behind the writes, without waiting for their answers, so that both
 * travel to the store together: the events they react to are the batch's events the lock found not
 * yet stored. An event another transaction stores at the same moment is then seen by both commits'
 * steps, which record what they record idempotently (a run's id derives from rule and event, a
 * queued profile is queued once); the answers still report it as the duplicate the store found.
 *
 * With `flows`, the workflow rules are matched here, against cached rules the transaction confirms are
 * still those stored: flows of local actions run on the locked profiles, in event order (each seeing
 * what the one before did), before anything is written, so their changes go out with the commit's own
 * profile write and their runs are stored finished with the events.
 */
export class TrackCommit<Tx> implements BatchCommitter {
  constructor(
    private readonly store: TrackingStore<Tx>,
    private readonly steps: readonly CommitStep<Tx>[],
    private readonly flows?: CommitFlows<Tx>,
  ) {}

  async commit(commands: TrackCommand[], now: Date): Promise<TrackOutcome[]> {
    // Before the transaction: reading the rules again takes a connection of its own.
    const flows = await this.flows?.begin();
    return this.store.transaction(async (tx) => {
      const keys = batchKeys(commands, flows);
      const [locked, confirmed] = await Promise.all([this.store.lock(tx, keys), flows?.confirm(tx)]);
      const batch = decideBatch(commands, keys, locked, now);
      const changes = committedChanges(batch.ledger, locked.storedEventIds);
      if (batch.writes.profileDocuments.size > 0) changes.documents = [...batch.writes.profileDocuments.keys()];
      let answers = new Map<string, InlineRunAnswer[]>();
      if (flows && confirmed) {
        answers = await runFlows(flows, batch, locked, changes, now);
        changes.flowsMatched = { runs: flows.runs(changes.events), pausedRunsWait: confirmed.pausedRunsWait };
      }
      const [stored, mergedInto] = await bothSettled(
        this.store.write(tx, batch.writes),
        runCommitSteps(this.steps, tx, changes),
      );
      return outcomes(commands, batch, stored, mergedInto, answers);
    });
  }
}

const SYSTEM_EVENTS = Object.values(SystemEvent);

function batchKeys(commands: readonly TrackCommand[], flows: BatchFlows<unknown> | undefined): BatchKeys {
  const mappedEventIds = commands.flatMap((command) =>
    command.events.filter((event) => event.profileMappings.length > 0).map((event) => event.id),
  );
  // A command's own events, or the system events it may cause, may start flows that read the profile.
  const startsFlows = (command: TrackCommand) =>
    command.runFlows !== false &&
    [...command.events.map((event) => event.type), ...SYSTEM_EVENTS].some((type) =>
      flows!.runsInline(type, command.sourceId),
    );
  return {
    sessionIds: unique(commands.map((command) => command.sessionId)),
    profileIds: unique(commands.map((command) => command.profileId)),
    eventIds: commands.flatMap((command) => command.events.map((event) => event.id)),
    mappedEventIds,
    wholeProfiles: mappedEventIds.length > 0 || (flows !== undefined && commands.some(startsFlows)),
  };
}

/**
 * Runs the local flows of the committed events, in event order, on the profiles as the visit rules and
 * mappings left them; a profile a flow changed is written with the batch's profile writes, the tags a
 * flow adds are stored with the event. Events of a profile the batch does not save (`saveProfile:
 * false` on a stored profile) are left to the deferred runs. Answers the runs finished, by event.
 */
async function runFlows<Tx>(
  flows: BatchFlows<Tx>,
  { ledger, writes }: DecidedBatch,
  locked: LockedBatch,
  changes: CommittedChanges,
  now: Date,
): Promise<Map<string, InlineRunAnswer[]>> {
  const answers = new Map<string, InlineRunAnswer[]>();
  const records = new Map(ledger.events.map((event) => [event.id, event]));
  const profiles = new Map<string, Record<string, unknown>>();
  const documents = new Set(changes.documents);
  const flowDocuments = new Set<string>();
  for (const { id, type, sourceId, profileId, sessionId, runFlows } of changes.events) {
    if (runFlows === false || !flows.runsInline(type, sourceId)) continue;
    if (profileId !== null && !ledger.savedProfiles.has(profileId)) continue;
    const profile =
      profileId === null
        ? null
        : (profiles.get(profileId) ??
          wholeProfileDocument(ledger.profiles.get(profileId)!, locked.documents.get(profileId), now));
    const session = sessionId === null ? null : (sessionDocument(ledger.sessions.get(sessionId)) ?? null);
    const record = records.get(id)!;
    const outcome = await flows.run({ record, profile, session });
    if (profileId !== null) profiles.set(profileId, outcome.profile ?? profile!);
    if (profileId !== null && outcome.profile) {
      writes.profileDocuments.set(profileId, outcome.profile as ProfileDocument);
      if (outcome.identifying) {
        documents.add(profileId);
        flowDocuments.add(profileId);
      }
    }
    const added = outcome.tags.filter((tag) => !record.tags.includes(tag));
    if (added.length > 0) record.tags = [...record.tags, ...added];
    answers.set(id, outcome.runs);
  }
  if (documents.size > 0) changes.documents = [...documents];
  if (flowDocuments.size > 0) changes.flowDocuments = [...flowDocuments];
  return answers;
}

/** Applies the commands to what the store holds, in arrival order, so a later one sees what an earlier one made. */
function decideBatch(commands: readonly TrackCommand[], keys: BatchKeys, locked: LockedBatch, now: Date): DecidedBatch {
  const ledger = new VisitLedger(locked.profiles, locked.sessions);
  const applied = commands.map((command) => applyTrackCommand(ledger, command, now));
  const mapped =
    keys.mappedEventIds.length > 0
      ? applyProfileMappings(ledger, commands, applied, locked.documents, locked.storedEventIds)
      : undefined;
  const saved = <T>(ids: Set<string>, all: Map<string, T>, keep: Set<string>): T[] =>
    [...ids].filter((id) => keep.has(id)).map((id) => all.get(id)!);
  const writes: BatchWrites = {
    newProfiles: saved<ProfileState>(ledger.newProfiles, ledger.profiles, ledger.savedProfiles),
    changedProfiles: saved<ProfileState>(ledger.changedProfiles, ledger.profiles, ledger.savedProfiles),
    newSessions: saved<SessionState>(ledger.newSessions, ledger.sessions, ledger.savedSessions),
    changedSessions: saved<SessionState>(ledger.changedSessions, ledger.sessions, ledger.savedSessions),
    events: ledger.events.filter((event) => event.save),
    profileDocuments: mapped?.changed ?? new Map(),
    // As the lock read them: the mappings changed theirs in place.
    storedDocuments: new Map([...locked.documents].filter(([id]) => !mapped?.changed.has(id))),
    appliedMappings: mapped?.applied ?? [],
    storedEventIds: locked.storedEventIds,
    now,
  };
  return { ledger, applied, mapped, writes };
}

/** What the batch commits: its saved events not stored before (each id once), the saved profiles with their event types. */
export function committedChanges(ledger: VisitLedger, storedBefore: ReadonlySet<string>): CommittedChanges {
  const events: CommittedChanges['events'] = [];
  const seen = new Set<string>();
  const types = new Map<string, Set<string>>();
  for (const event of ledger.events) {
    if (event.save && !storedBefore.has(event.id) && !seen.has(event.id)) {
      seen.add(event.id);
      const { id, type, profileId, sessionId, sourceId, occurredAt, runFlows } = event;
      events.push({
        id,
        type,
        profileId,
        sessionId,
        sourceId,
        occurredAt,
        ...(runFlows === false ? { runFlows } : {}),
      });
    }
    const profileId = event.profileId;
    if (profileId === null || !ledger.savedProfiles.has(profileId)) continue;
    let profileTypes = types.get(profileId);
    if (!profileTypes) types.set(profileId, (profileTypes = new Set()));
    profileTypes.add(event.type);
  }
  const profiles = [...types].map(([id, eventTypes]) => ({ id, eventTypes: [...eventTypes] }));
  return { writer: 'track', events, profiles };
}

/**
 * Each command's answer. An event id the store did not store, or stored for an earlier command of
 * the batch, was there before: kept once, reported as a duplicate. A profile a commit step merged
 * into another is answered with the survivor, the id the tracker should keep.
 */
export function outcomes(
  commands: readonly TrackCommand[],
  batch: Pick<DecidedBatch, 'applied' | 'mapped'>,
  stored: ReadonlySet<string>,
  mergedInto: ReadonlyMap<string, string>,
  answers: ReadonlyMap<string, InlineRunAnswer[]>,
): TrackOutcome[] {
  const seen = new Set<string>();
  return batch.applied.map(({ profileId, sessionId, eventIds }, index) => {
    const saved = commands[index]!.save.events;
    const duplicateEventIds = saved ? eventIds.filter((id) => !stored.has(id) || seen.has(id)) : [];
    for (const id of eventIds) seen.add(id);
    return {
      profileId: mergedInto.get(profileId) ?? profileId,
      sessionId,
      eventIds,
      duplicateEventIds,
      warnings: batch.mapped?.warnings[index] ?? [],
      inlineRuns: eventIds.flatMap((id) => answers.get(id) ?? []),
    };
  });
}

/**
 * Both results, once both have settled: a transaction's statements are all answered before it
 * commits or rolls back, whichever of them failed first.
 */
async function bothSettled<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

function unique(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}
