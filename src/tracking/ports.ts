import type { ProfileDocument } from '../mapping/apply.js';
import type { EventRecord, ProfileState, SessionState, TrackCommand, TrackOutcome } from './model.js';
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
}

/** What the store holds of a batch's keys, locked until the transaction ends. */
export interface LockedBatch {
  /** The named sessions. */
  sessions: SessionState[];
  /** The profiles named by id or merged id, and the named sessions' own profiles. */
  profiles: ProfileState[];
  /** Whole profiles by id, as mappings read them: read only when the batch has mapped events. */
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
  /** Profiles whose writable parts event-to-profile mappings changed. */
  profileDocuments: Map<string, ProfileDocument>;
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
