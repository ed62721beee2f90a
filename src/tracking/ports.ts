import type { ProfileDocument } from '../mapping/apply.js';
import type { CommittedEvent, DecidedRun } from './commit-steps.js';
import type { EventRecord, InlineRunAnswer, ProfileState, SessionState, TrackCommand, TrackOutcome } from './model.js';
import type { EventPage, EventQuery, ProfileView, SessionView } from './views.js';

/** Commits a batch of /track commands atomically: all are durably stored, or none. */
export interface BatchCommitter {
  commit(commands: TrackCommand[], now: Date): Promise<TrackOutcome[]>;
}

/**
 * What a batch names: its sessions, its profiles (by id or merged id), its events, and those of them
 * that carry event-to-profile mappings.
 */
export interface BatchKeys {
  sessionIds: string[];
  profileIds: string[];
  eventIds: string[];
  mappedEventIds: string[];
  /** The lock reads the profiles whole (event-to-profile mappings or flows the commit runs need them). */
  wholeProfiles: boolean;
}

/** What the store holds of a batch's keys, locked until the transaction ends. */
export interface LockedBatch {
  /** The named sessions. */
  sessions: SessionState[];
  /** The profiles named by id or merged id, and the named sessions' own profiles. */
  profiles: ProfileState[];
  /** Whole profiles by id, as mappings and flows read them: read only when the keys ask for them. */
  documents: Map<string, ProfileDocument>;
  /**
   * The batch's events stored before it (a repeated client id): their mappings were applied then, and
   * the commit steps reacted to them then.
   */
  storedEventIds: Set<string>;
}

/** A batch's changes, for the store to write set-based. */
export interface BatchWrites {
  newProfiles: ProfileState[];
  changedProfiles: ProfileState[];
  newSessions: SessionState[];
  changedSessions: SessionState[];
  events: EventRecord[];
  /** Profiles whose writable parts or segments event-to-profile mappings or flows changed. */
  profileDocuments: Map<string, ProfileDocument>;
  /** The documents as the lock read them: a part of a changed document equal to its stored one is not written again. */
  storedDocuments: ReadonlyMap<string, ProfileDocument>;
  /**
   * The batch's events the store held before it (the lock's `storedEventIds`): not stored again, and
   * not counted again on their sessions.
   */
  storedEventIds: ReadonlySet<string>;
  /** (mapping, event) pairs applied, recorded so that a backfill never applies them again. */
  appliedMappings: { mappingId: string; eventId: string }[];
  /** The commit's clock: `updated_at` of what is written. */
  now: Date;
}

/**
 * The commit use case's store: it locks, reads and writes, and decides nothing. `Tx` is its
 * transaction, which the commit steps receive too; it runs statements in the order they are issued,
 * so one issued before an earlier one has answered still sees that one's effects.
 */
export interface TrackingStore<Tx> {
  /**
   * Runs `work` in one transaction, and again when it lost a race the store can tell (a deadlock, or
   * a new session another transaction created first, which the next run reads instead).
   */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Locks and reads the batch's sessions, then its profiles, each in id order (so concurrent batches queue). */
  lock(tx: Tx, keys: BatchKeys): Promise<LockedBatch>;
  /** Writes the changes and returns the ids of the events actually stored (a repeated id is stored once). */
  write(tx: Tx, writes: BatchWrites): Promise<Set<string>>;
}

/**
 * An import's changes (tracking/history-commit.ts), made without locks: what is new is written whole,
 * what the store held is changed relative to what it holds then, so a concurrent commit loses nothing.
 */
export interface HistoryWrites {
  newProfiles: ProfileState[];
  newSessions: SessionState[];
  /** Stored unless an event with the id is; each session counts those stored (system events aside). */
  events: EventRecord[];
  /**
   * Stored sessions the events went to: the events stored on each are recorded as a touch, counted
   * (and the visit carried on: last event, active, its profile active) when touches are settled.
   */
  touchedSessionIds: string[];
  now: Date;
}

/** An import's event for the session its person has (tracking/history-commit.ts), checked. */
export interface AppendedEvent {
  id: string;
  /** Normalised, as collect normalises it. */
  type: string;
  sessionId: string;
  /** The profile the row names, if any. */
  profileId: string | undefined;
  properties: Record<string, unknown>;
  /** Absent: none (the append of an import that maps no context or tags sends no column for them). */
  context?: Record<string, unknown>;
  tags?: string[];
  occurredAt: Date;
}

/** Events from one source, appended to the sessions they name. */
export interface AppendBatch {
  sourceId: string;
  events: AppendedEvent[];
  now: Date;
}

/** What an append stored (not an id stored before), and which events (by index) it left alone. */
export interface AppendOutcome {
  stored: { id: string; type: string; profileId: string; sessionId: string }[];
  declined: number[];
}

/** Appends checked events to their sessions, committed with the commit steps (HistoryCommit). */
export interface EventAppender {
  /** `runFlows: false`: the events start no workflow rule. */
  append(batch: AppendBatch, runFlows: boolean): Promise<AppendOutcome>;
}

/** The store of the import's commit: reads without a lock other than the sessions' share lock, writes relatively. */
export interface HistoryStore<Tx> {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** What `lock` reads, the profiles not locked, the sessions share-locked (not written, but not left stale). */
  peek(tx: Tx, keys: BatchKeys): Promise<LockedBatch>;
  /** Writes the changes and returns the ids of the events it stored (not those stored before). */
  writeHistory(tx: Tx, writes: HistoryWrites): Promise<Set<string>>;
  /**
   * Settles the touches (of any writer) of up to `limit` sessions of `share` (sessions split by id
   * into `of` shares, this one `index`): counts them onto their sessions, carries the visits on, deletes them.
   * Returns how many sessions it took and the profiles it touched.
   */
  settleTouches(
    tx: Tx,
    limit: number,
    share: { index: number; of: number },
  ): Promise<{ settled: number; profileIds: string[] }>;
  /**
   * Stores the events whose session is stored with its visit not ended, its profile stored by that id,
   * and no other profile named (by id or merged id), each with a touch of its session; declines the others.
   * The sessions are share-locked, and checked on what a concurrent writer of them committed.
   * `idsMayBeStored`: an event whose id is stored is left as it is; otherwise the store may fail with
   * StoredEventId instead, which spares it the check a row costs.
   */
  appendEvents(tx: Tx, batch: AppendBatch, idsMayBeStored: boolean): Promise<AppendOutcome>;
}

/** An append told no id was stored met one: its transaction is void, and the append is done again. */
export class StoredEventId extends Error {}

/**
 * The workflow rules' part in a commit (workflow/inline.ts): the flows of rules all of whose actions are
 * local run inside the commit of their event, on the profile it locked; the other rules' runs are
 * recorded pending for the workflow worker. One per attempt of the transaction (`begin`): it keeps the
 * runs it made until the commit steps store them.
 */
export interface CommitFlows<Tx> {
  begin(): Promise<BatchFlows<Tx>>;
}

export interface BatchFlows<Tx> {
  /** Whether an event of this type from this source starts a flow the commit runs (its profile is then read whole). */
  runsInline(type: string, sourceId: string): boolean;
  /**
   * Issued with the lock: whether the rules read before the transaction are still those stored, and
   * whether any paused run waits for an event. Undefined when the rules changed since: the commit then
   * runs no flow and leaves the matching to the commit steps.
   */
  confirm(tx: Tx): Promise<{ pausedRunsWait: boolean } | undefined>;
  /** Runs the local flows an event starts, in rule order, on the event's documents; never throws for a flow's fault. */
  run(event: InlineEvent): Promise<InlineOutcome>;
  /** Every run `events` start: those `run` finished, and the others, to record pending. */
  runs(events: readonly CommittedEvent[]): DecidedRun[];
}

/** An event whose flows the commit runs, with the documents they see (the profile whole, after the visit rules). */
export interface InlineEvent {
  record: EventRecord;
  profile: Record<string, unknown> | null;
  session: Record<string, unknown> | null;
}

export interface InlineOutcome {
  /** The profile after the flows' changes; undefined when they changed nothing. */
  profile?: Record<string, unknown>;
  /** Whether they changed its traits, pii or data where it holds an identity key (identity then claims it). */
  identifying: boolean;
  /** Tags the flows add to the event. */
  tags: string[];
  /** The runs, finished, with what they answer. */
  runs: InlineRunAnswer[];
}

export interface EventSource {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  /** `rest`, or the broker kind a bridge consumes (`bridges/source-config.ts`). */
  type: string;
  /** The broker connection and message format of a bridge source; `{}` for `rest`. */
  config: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface EventSourceFields {
  name: string;
  description: string;
  enabled: boolean;
  type: string;
  config: Record<string, unknown>;
}

export interface EventSourceRepository {
  get(id: string): Promise<EventSource | undefined>;
  list(): Promise<EventSource[]>;
  create(source: { id: string } & EventSourceFields): Promise<EventSource | undefined>;
  update(id: string, changes: EventSourceFields): Promise<EventSource | undefined>;
  delete(id: string): Promise<boolean>;
}

export interface TrackingReadModel {
  profile(id: string): Promise<ProfileView | undefined>;
  session(id: string): Promise<SessionView | undefined>;
  events(query: EventQuery): Promise<EventPage>;
  deleteProfile(id: string): Promise<boolean>;
}
