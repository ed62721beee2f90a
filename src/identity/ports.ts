import type { IdentityKey } from './keys.js';
import type { ProfileRecord } from './merge.js';
import type { IdentificationPoint, PointEvent, PointInput } from './points.js';

/** A profile's claim to an identity key value. */
export type KeyClaim = IdentityKey & { profileId: string };

/** Why a merge happened (or was refused): kept with its record. */
export interface MergeReason {
  by: 'identification-point' | 'mapping' | 'operator' | 'flow' | 'alias' | 'import';
  /** The key values the profiles shared, when keys brought them together. */
  keys?: IdentityKey[];
}

/** A merge as its history shows it. */
export interface MergeSummary {
  id: string;
  survivorId: string;
  mergedIds: string[];
  status: 'merged' | 'refused' | 'undone';
  reason: MergeReason;
  createdAt: string;
  undoneAt: string | null;
}

/** A merge with what undoing it needs: every profile as the merge found it, and the survivor as it left it. */
export interface MergeRecord extends MergeSummary {
  before: ProfileRecord[];
  after: ProfileRecord | null;
}

/**
 * The identity capability's store. It locks, reads and writes; the rules (which values are keys,
 * who survives, what a merge keeps) are the capability's. `Tx` is the writer's transaction.
 */
export interface IdentityStore<Tx> {
  /** Runs `work` in one transaction, again after a deadlock or serialization failure. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Locks the profiles found by id or merged id, in id order, and reads them whole. */
  lockProfiles(tx: Tx, ids: readonly string[]): Promise<ProfileRecord[]>;
  /** Writes the profiles' traits, pii and data. */
  writeDocuments(tx: Tx, profiles: readonly ProfileRecord[]): Promise<void>;
  /**
   * The profiles' values at the key paths (under traits, pii or data), in the order of `paths`. Reads
   * without locking: for the profiles the caller's transaction wrote, whose row locks it holds.
   */
  keyValues(tx: Tx, ids: readonly string[], paths: readonly string[]): Promise<{ id: string; values: unknown[] }[]>;
  /**
   * Gives each claim's profile its key value where no profile holds it yet (a unique key: of two
   * transactions claiming one value, the second waits for the first and finds it taken), then answers
   * the claims whose value another profile holds, with that holder.
   */
  claimKeys(tx: Tx, claims: readonly KeyClaim[]): Promise<(KeyClaim & { holder: string })[]>;
  /**
   * Writes a merge: the survivor as merged, the merged-away profiles gone (their keys, segment
   * memberships and ids to the survivor), and the record with every before-image.
   */
  writeMerge(
    tx: Tx,
    merge: { id: string; reason: MergeReason; before: ProfileRecord[]; after: ProfileRecord },
  ): Promise<void>;
  /** Records a refused merge for the history. */
  recordRefusal(
    tx: Tx,
    refusal: { id: string; survivorId: string; mergedIds: string[]; reason: MergeReason },
  ): Promise<void>;
  /** The merge record, locked. */
  lockMerge(tx: Tx, id: string): Promise<MergeRecord | undefined>;
  /**
   * Writes an undo: the merged-away profiles back as they were, with their keys, memberships and
   * sessions; the survivor as given; the record marked undone.
   */
  writeUndo(tx: Tx, undo: { merge: MergeRecord; survivor: ProfileRecord }): Promise<void>;
  /** Gives `to` the key values among `keys` that `from` holds. */
  handKeys(tx: Tx, from: string, to: string, keys: readonly IdentityKey[]): Promise<void>;
  /** The merges of a profile known by these ids (its own and merged ones), newest first. */
  history(profileIds: readonly string[]): Promise<MergeSummary[]>;
  /** Every identification point. */
  points(tx: Tx): Promise<IdentificationPoint[]>;
  /** The profile holding a key value. */
  holder(key: IdentityKey): Promise<string | undefined>;
  /** The stored events' documents, for identification points. */
  events(tx: Tx, ids: readonly string[]): Promise<(PointEvent & { id: string; profileId: string | null })[]>;
}

export interface IdentificationPointRepository {
  list(): Promise<IdentificationPoint[]>;
  get(id: string): Promise<IdentificationPoint | undefined>;
  create(id: string, point: PointInput): Promise<IdentificationPoint>;
  update(id: string, point: PointInput): Promise<IdentificationPoint | undefined>;
  delete(id: string): Promise<boolean>;
}
