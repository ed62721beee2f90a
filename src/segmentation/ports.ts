import type { Segment, SegmentRunError } from './segment.js';

/** What a segment is saved with; the rest (run and change times) the store keeps. */
export type SegmentInput = Omit<
  Segment,
  'lastRunAt' | 'createdAt' | 'updatedAt' | 'failure' | 'resegmentPending' | 'resegmentRequest'
>;

export interface SegmentRepository {
  get(id: string): Promise<Segment | undefined>;
  list(): Promise<Segment[]>;
  listEnabled(): Promise<Segment[]>;
  /** Undefined when the id or machine name is taken. An enabled segment is saved asking for a re-decision. */
  create(segment: SegmentInput): Promise<Segment | undefined>;
  /** Clears a failure; an enabled segment is saved asking for a re-decision. */
  update(id: string, segment: Omit<SegmentInput, 'id'>): Promise<Segment | undefined>;
  delete(id: string): Promise<boolean>;
  memberCount(id: string): Promise<number>;
  markRun(id: string, at: Date): Promise<void>;
  /** Records why a run failed, unless the condition that failed has been replaced meanwhile. */
  markFailed(id: string, condition: string, message: string, at: Date): Promise<void>;
  clearFailure(id: string): Promise<void>;
  /** The work of re-decision asks up to `request` is in the job queue. */
  markQueued(id: string, request: number): Promise<void>;
  /** Enabled segments whose re-decision is not queued although it was asked for over `graceMs` ago. */
  listAwaitingQueue(graceMs: number): Promise<Segment[]>;
  members(
    id: string,
    limit: number,
    cursor?: string,
  ): Promise<{ items: { profileId: string; enteredAt: string }[]; next: string | null }>;
}

/** Which profiles a unit of segmentation work looks at. */
export type ProfileSelection =
  | { kind: 'range'; fromId: string | null; toId: string | null; updatedSince?: string; updatedBefore?: string }
  | { kind: 'ids'; ids: string[] };

export interface MembershipChanges {
  entered: number;
  left: number;
}

export interface PendingRecheck extends MembershipChanges {
  profiles: number;
  /** Segments whose condition could not run; they are marked failed and the others were decided. */
  failures: SegmentRunError[];
}

export interface MembershipStore {
  /**
   * Decides membership of the selected profiles in one statement: those that match and are not
   * members enter, members that no longer match leave; every change goes to the outbox and to
   * profiles.segments in the same transaction. Running it twice changes nothing the second time.
   * Throws SegmentRunError when the condition cannot run.
   */
  apply(segment: Segment, selection: ProfileSelection, now: Date): Promise<MembershipChanges>;
  /** Profile id bounds cutting the profiles into ranges of about `size` (sorted, exclusive upper bounds). */
  rangeBounds(size: number): Promise<string[]>;
  /**
   * Re-decides the segments of up to `limit` profiles that tracking changed and removes them from
   * the pending list, in one transaction: crash-safe, and concurrent workers skip each other's rows.
   * A segment whose condition cannot run is marked failed in that transaction and left out.
   */
  recheckPending(limit: number, segments: Segment[], now: Date): Promise<PendingRecheck>;
}
