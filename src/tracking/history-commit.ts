import { runCommitSteps, type CommitStep, type CommittedChanges, type CommittedEvent } from './commit-steps.js';
import { committedChanges, outcomes } from './commit.js';
import { SystemEvent, type TrackCommand, type TrackOutcome } from './model.js';
import type {
  AppendBatch,
  AppendOutcome,
  BatchCommitter,
  CommitFlows,
  EventAppender,
  HistoryStore,
  LockedBatch,
} from './ports.js';
import { StoredEventId } from './ports.js';
import { applyTrackCommand, VisitLedger } from './visit.js';

/**
 * The commit of an import's events: a history of thousands of people a batch, one request each, where
 * /track's commit would lock, read and rewrite every person's profile and session. This one reads the
 * profiles without locking and the sessions share-locked (a writer ending, moving or deleting one is
 * waited for, not read around), rewrites neither, and commits set-based the commands whose outcome no
 * concurrent commit can change: a person the store does not know (profile, session and their system
 * events created, by the same visit rules), or one whose stored session goes on (its events stored; the
 * session counted and carried on, and the profile touched, when its touch is settled, relative to what
 * they hold then). Every other command — a session whose visit ended, a profile known only by a merged
 * id or one without that session, event-to-profile mappings, options that save less, a device id, a
 * session or profile another command of the batch names too — goes to the locking commit it is given.
 * The commit steps run in the same transaction; the runs of workflow rules are recorded pending there
 * (no flow runs inside this commit), matched against the cached rules when the transaction confirms
 * they are those stored, else in SQL.
 */
export class HistoryCommit<Tx> implements BatchCommitter, EventAppender {
  /**
   * Whether an append met an id already stored and the batches since have too: until one has not, appends
   * leave stored ids alone rather than fail on them (most batches of most runs hold none).
   */
  private storedIdsLikely = false;

  constructor(
    private readonly store: HistoryStore<Tx>,
    private readonly steps: readonly CommitStep<Tx>[],
    private readonly locking: BatchCommitter,
    private readonly flows?: CommitFlows<Tx>,
    /** The transactions a settle runs side by side (the commit lanes). */
    private readonly settleLanes = 1,
  ) {}

  async commit(commands: TrackCommand[], now: Date): Promise<TrackOutcome[]> {
    const results: TrackOutcome[] = [];
    const candidates = plainCommands(commands);
    const unsure = new Set(commands.keys());
    if (candidates.length > 0) {
      // Before the transaction: reading the rules again takes a connection of its own.
      const flows = await this.flows?.begin();
      const { plain, answered } = await this.store.transaction(async (tx) => {
        const own = candidates.map((index) => commands[index]!);
        const [read, confirmed] = await Promise.all([
          this.store.peek(tx, {
            sessionIds: unique(own.map((command) => command.sessionId)),
            profileIds: unique(own.map((command) => command.profileId)),
            eventIds: [],
            mappedEventIds: [],
            wholeProfiles: false,
          }),
          flows?.confirm(tx),
        ]);
        const settled = settledBy(read);
        const plain = candidates.filter((index) => settled(commands[index]!));
        const ledger = new VisitLedger(read.profiles, read.sessions);
        const applied = plain.map((index) => applyTrackCommand(ledger, commands[index]!, now));
        const stored = await this.store.writeHistory(tx, {
          newProfiles: [...ledger.newProfiles].map((id) => ledger.profiles.get(id)!),
          newSessions: [...ledger.newSessions].map((id) => ledger.sessions.get(id)!),
          events: ledger.events,
          touchedSessionIds: [...ledger.changedSessions],
          now,
        });
        const storedBefore = new Set(ledger.events.filter((event) => !stored.has(event.id)).map((event) => event.id));
        const changes = committedChanges(ledger, storedBefore);
        // The rules as cached are those stored: their runs are matched here, all left pending.
        if (flows && confirmed)
          changes.flowsMatched = { runs: flows.runs(changes.events), pausedRunsWait: confirmed.pausedRunsWait };
        const mergedInto = await runCommitSteps(this.steps, tx, changes);
        const taken = plain.map((index) => commands[index]!);
        return {
          plain,
          answered: outcomes(taken, { applied, mapped: undefined }, stored, mergedInto, new Map()),
        };
      });
      plain.forEach((index, at) => {
        results[index] = answered[at]!;
        unsure.delete(index);
      });
    }
    if (unsure.size > 0) {
      const rest = [...unsure];
      const answered = await this.locking.commit(
        rest.map((index) => commands[index]!),
        now,
      );
      rest.forEach((index, at) => (results[index] = answered[at]!));
    }
    return results;
  }

  /**
   * Appends events to the sessions they name where that needs no lock (HistoryStore.appendEvents), the
   * commit steps in the same transaction, as `commit` does for a person whose stored session goes on,
   * without a request and its answer a person. Returns what it stored and which events it declined.
   */
  async append(batch: AppendBatch, runFlows: boolean): Promise<AppendOutcome> {
    if (!this.storedIdsLikely)
      try {
        return await this.appendOnce(batch, runFlows, false);
      } catch (error) {
        if (!(error instanceof StoredEventId)) throw error;
      }
    // A batch read again (a resumed or repeated import): its next batches are likely read again too.
    this.storedIdsLikely = true;
    const outcome = await this.appendOnce(batch, runFlows, true);
    if (outcome.stored.length + outcome.declined.length === batch.events.length) this.storedIdsLikely = false;
    return outcome;
  }

  private async appendOnce(batch: AppendBatch, runFlows: boolean, idsMayBeStored: boolean): Promise<AppendOutcome> {
    const flows = await this.flows?.begin();
    return this.store.transaction(async (tx) => {
      const [outcome, confirmed] = await Promise.all([
        this.store.appendEvents(tx, batch, idsMayBeStored),
        flows?.confirm(tx),
      ]);
      const occurredAt = new Map(batch.events.map((event) => [event.id, event.occurredAt]));
      const events: CommittedEvent[] = outcome.stored.map(({ id, type, profileId, sessionId }) => ({
        id,
        type,
        profileId,
        sessionId,
        sourceId: batch.sourceId,
        occurredAt: occurredAt.get(id)!,
        ...(runFlows ? {} : { runFlows: false as const }),
      }));
      const eventTypes = new Map<string, Set<string>>();
      for (const { profileId, type } of outcome.stored) {
        const types = eventTypes.get(profileId);
        if (types) types.add(type);
        else eventTypes.set(profileId, new Set([type]));
      }
      const profiles = [...eventTypes].map(([id, types]) => ({ id, eventTypes: [...types] }));
      // Collected events, as those of the locking commit: identification points meet them too.
      const changes: CommittedChanges = { writer: 'track', events, profiles };
      if (flows && confirmed)
        changes.flowsMatched = { runs: flows.runs(changes.events), pausedRunsWait: confirmed.pausedRunsWait };
      await runCommitSteps(this.steps, tx, changes);
      return outcome;
    });
  }

  /**
   * Counts the touches onto their sessions and profiles, a bounded slice of sessions a transaction,
   * until none is left; the commit steps see the profiles it touched. Returns how many sessions it settled.
   * The sessions are split by id into a share per lane, settled side by side: a settle is PostgreSQL's
   * work alone, and a share locks its sessions, then their profiles, in id order as every writer does.
   * Answers once every share has stopped: none goes on settling after its caller moved on.
   */
  async settle(slice = SETTLE_SLICE): Promise<number> {
    const shares = await Promise.allSettled(
      Array.from({ length: this.settleLanes }, (_, index) => this.settleShare(slice, { index, of: this.settleLanes })),
    );
    let total = 0;
    for (const share of shares) {
      if (share.status === 'rejected') throw share.reason;
      total += share.value;
    }
    return total;
  }

  private async settleShare(slice: number, share: { index: number; of: number }): Promise<number> {
    let total = 0;
    for (;;) {
      const settled = await this.store.transaction(async (tx) => {
        const { settled, profileIds } = await this.store.settleTouches(tx, slice, share);
        await runCommitSteps(this.steps, tx, {
          writer: 'import',
          events: [],
          profiles: profileIds.map((id) => ({ id, eventTypes: [] })),
        });
        return settled;
      });
      total += settled;
      if (settled < slice) return total;
    }
  }
}

/** Sessions settled a transaction: bounded, so that a settle holds a bounded number of sessions locked. */
const SETTLE_SLICE = 10_000;

/**
 * Commands this commit may take, before reading the store: all saved, no event-to-profile mapping, no
 * event ending a visit and no device id (each changes the profile or the session beyond a touch, decided
 * on the locked rows), and no session or profile named by another command of the batch (their order
 * within a batch is the locking commit's).
 */
function plainCommands(commands: readonly TrackCommand[]): number[] {
  const named = new Map<string, number>();
  const count = (key: string | undefined) => key !== undefined && named.set(key, (named.get(key) ?? 0) + 1);
  for (const command of commands) {
    count(command.sessionId && `s\u0000${command.sessionId}`);
    count(command.profileId && `p\u0000${command.profileId}`);
  }
  const once = (key: string | undefined) => key === undefined || named.get(key) === 1;
  return [...commands.keys()].filter((index) => {
    const command = commands[index]!;
    return (
      command.save.profile &&
      command.save.session &&
      command.save.events &&
      command.facts.device.id === undefined &&
      once(command.sessionId && `s\u0000${command.sessionId}`) &&
      once(command.profileId && `p\u0000${command.profileId}`) &&
      command.events.every((event) => event.profileMappings.length === 0 && event.type !== SystemEvent.visitEnded)
    );
  });
}

/**
 * Whether what the store holds settles a command's outcome without a lock: its session is stored, its
 * visit not ended, its profile stored by that id and no other profile the command names; or neither
 * its session nor its profile (by id or merged id) is stored, so both are new.
 */
function settledBy(read: LockedBatch): (command: TrackCommand) => boolean {
  const sessions = new Map(read.sessions.map((session) => [session.id, session]));
  const profiles = new Set(read.profiles.map((profile) => profile.id));
  const known = new Set(read.profiles.flatMap((profile) => [profile.id, ...profile.ids]));
  return (command) => {
    const session = command.sessionId === undefined ? undefined : sessions.get(command.sessionId);
    if (session)
      return (
        session.status !== 'ended' &&
        profiles.has(session.profileId) &&
        (command.profileId === undefined || command.profileId === session.profileId || !known.has(command.profileId))
      );
    return command.profileId === undefined || !known.has(command.profileId);
  };
}

function unique(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}
