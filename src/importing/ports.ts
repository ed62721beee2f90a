import type {
  AppendCandidate,
  CheckedAppend,
  CheckedPayloads,
  CollectOrigin,
  CollectResult,
} from '../tracking/tracker.js';
import type { ImportConfig, ImportDraft, ImportSource } from './model.js';
import type { Checkpoint, RowReader } from './sources.js';
import type { ImportedEvent, ImportedProfile, ImportedSession } from './tracardi.js';
import type { ProfileUpsert } from './rows.js';

export type ImportRunState = 'queued' | 'running' | 'paused' | 'cancelled' | 'done' | 'failed';
/** A run that is going: not yet ended, so its import runs no other and is not deleted. */
export const GOING_STATES: readonly ImportRunState[] = ['queued', 'running', 'paused'];

export interface ImportRun {
  id: string;
  importId: string;
  state: ImportRunState;
  rowsRead: number;
  rowsStored: number;
  rowsRejected: number;
  /** What `position` counts up to (bytes of a file, rows of a table), when known. */
  total: number | null;
  position: number;
  /** Milliseconds spent running, pauses left out. */
  activeMs: number;
  /** Whether a worker holds it now: its lease, renewed while it runs, has not run out. */
  leased: boolean;
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  updatedAt: string;
  finishedAt: string | null;
}

/** A run with what its worker needs to go on: the configuration it started with and its checkpoint. */
export interface RunWork {
  run: ImportRun;
  /** This worker's hold on the run. */
  claim: string;
  config: ImportConfig;
  /** The source's credentials, sealed. */
  secret: string | null;
  checkpoint: Checkpoint | undefined;
}

export interface BatchOutcome {
  read: number;
  stored: number;
  rejections: { ref: string; reason: string }[];
  checkpoint: Checkpoint;
  position: number;
  activeMs: number;
}

/** Rejections kept per run (all are counted). */
export const KEPT_REJECTIONS = 1000;

export interface ImportStore {
  create(id: string, draft: ImportDraft, sealedSecret: string | undefined): Promise<ImportConfig>;
  /** `sealedSecret` undefined keeps the stored credentials. */
  update(id: string, draft: ImportDraft, sealedSecret: string | undefined): Promise<ImportConfig | undefined>;
  get(id: string): Promise<ImportConfig | undefined>;
  list(): Promise<ImportConfig[]>;
  /** Deletes an import none of whose runs is going (queued, running or paused); else returns that run as `busy`. */
  delete(id: string): Promise<{ deleted: boolean } | { busy: ImportRun }>;

  /**
   * Records a queued run with the import's configuration as it is now; undefined when there is no such
   * import. One run of an import goes at a time: while one is queued, running or paused it is returned as `busy`.
   */
  createRun(runId: string, importId: string): Promise<{ run: ImportRun } | { busy: ImportRun } | undefined>;
  getRun(id: string): Promise<ImportRun | undefined>;
  /**
   * Gives a paused, queued or running run the import's settings as they are now, where they store the same rows
   * (source, event source, event type, target, mapping and time zone unchanged: the other options and
   * credentials may differ);
   * false when they would not.
   */
  adoptImportSettings(runId: string): Promise<boolean>;
  runsOf(importId: string): Promise<ImportRun[]>;
  /** The latest runs of all imports, at most `limit`, latest first. */
  latestRuns(limit: number): Promise<ImportRun[]>;
  rejections(runId: string): Promise<{ ref: string; reason: string }[]>;
  /**
   * Takes a queued run, or a running one whose lease ran out (its worker was killed), to running under
   * a new claim leased for `leaseMs`. A run running under another claim's live lease answers in how
   * long that lease runs out unrenewed; any other run (paused, ended, unknown) answers undefined.
   */
  claimRun(runId: string, leaseMs: number): Promise<RunWork | { heldForMs: number } | undefined>;
  /** Extends the lease of a run running under this claim by `leaseMs` from now; false when it is not. */
  renewLease(runId: string, claim: string, leaseMs: number): Promise<boolean>;
  setTotal(runId: string, total: number): Promise<void>;
  /**
   * Adds a batch's figures and moves the checkpoint, in one transaction, while the run is running
   * under this claim, and renews its lease by `leaseMs`; false otherwise (paused, cancelled, or taken
   * over: the worker stops there).
   */
  recordBatch(runId: string, claim: string, outcome: BatchOutcome, leaseMs: number): Promise<boolean>;
  /** Whether the run is running under this claim, as recordBatch would find it (for a run waiting between batches). */
  isRunning(runId: string, claim: string): Promise<boolean>;
  finishRun(runId: string, claim: string, state: 'done' | 'failed', error?: string): Promise<void>;
  /**
   * Moves a run between states when it is in one of `from`; returns the run after, or undefined. A run
   * is queued again only while no other run of its import is going.
   */
  transition(runId: string, from: readonly ImportRunState[], to: ImportRunState): Promise<ImportRun | undefined>;
  /**
   * Runs left queued or running by a process that stopped, to be queued again: those queued, and those
   * running whose lease ran out (their claims dropped, queued again); those running under a live lease
   * are left to their holder, and named too (a process restarted before its own lease ran out takes its
   * run over once it does).
   */
  requeueUnfinished(): Promise<string[]>;
}

/**
 * Writes imported profiles and sessions as they are (ids, times, merged ids), each id once: one stored
 * already (a profile also when merged into another) is kept as it is. Runs the commit steps on what it
 * wrote (writer `import`); returns how many it wrote.
 */
export interface RecordWriter {
  /** Also claims the profiles' identity key values no profile holds; merges nobody. */
  writeProfiles(profiles: readonly ImportedProfile[]): Promise<number>;
  /** A session belongs to the profile a merged id resolves to; a new one counts the events stored on it already. */
  writeSessions(sessions: readonly ImportedSession[]): Promise<number>;
  /**
   * Stores events once by id, under the profile a merged id resolves to, each counted on its stored
   * session when it is new; returns how many were new. `runFlows: false`: the events start no workflow rule.
   */
  writeEvents(events: readonly ImportedEvent[], sourceId: string, runFlows: boolean): Promise<number>;
  /**
   * Creates or updates profiles by id (a merged id updates the profile it was merged into, an
   * identity key the profile holding it): the traits and PII given are laid over the stored ones, key
   * by key at the top level. The profiles' identity keys are then claimed, and a profile holding one
   * merged, as for values set through /track (the identification commit step), in the same transaction.
   * Finds at once whom each row sets, and stores when the returned function is called, so a batch's
   * look-ups run while the batch before it is stored. With `hold`, each transaction first checks, and
   * share-locks until it commits, that the run is still held by that claim, else throws RunNotHeld.
   */
  upsertProfiles(profiles: readonly ProfileUpsert[], hold?: RunHold): () => Promise<number>;
}

/** The run a batch is stored for, and the claim its worker holds it by. */
export interface RunHold {
  runId: string;
  claim: string;
}

/**
 * The run is no longer held by the claim a batch was stored under (another worker took it over once
 * its lease ran out): the batch is not stored, as its rows laid over what the new holder stored since
 * would set older values over newer ones.
 */
export class RunNotHeld extends Error {
  constructor(runId: string) {
    super(`import run ${runId} is held by another claim now`);
    this.name = 'RunNotHeld';
  }
}

/**
 * The collect pipeline's entry, as the importer uses it: a batch's payloads checked (while the batch
 * before is stored), then committed together (Tracker.checkAll, Tracker.commitChecked).
 */
export interface Collector {
  check(payloads: readonly unknown[], origin: CollectOrigin): Promise<CheckedPayloads>;
  /** Commits without locking what it can (tracking/history-commit.ts): some counts are left to `settle`. */
  commit(checked: CheckedPayloads): Promise<CollectResult[]>;
  /** Checks events for `append` as collect checks them (Tracker.checkAppend), while the batch before is stored. */
  checkAppend(
    sourceId: string,
    type: string,
    events: readonly AppendCandidate[],
    origin: CollectOrigin,
  ): Promise<CheckedAppend>;
  /**
   * Appends the checked events to the sessions of their people where that needs no lock
   * (Tracker.appendChecked); returns how many it stored or found stored, and the indexes of those left
   * to collect.
   */
  append(checked: CheckedAppend): Promise<{ stored: number; declined: number[] }>;
  /** Counts the events commits and appends stored on sessions onto them; returns how many sessions it settled. */
  settle(): Promise<number>;
}

export type ReaderFactory = (source: ImportSource, password: string | undefined) => RowReader;
