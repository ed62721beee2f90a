import type { JobRun, JobRunRepository } from '../shared/job-runs.js';
import type { Mapping, MappingInput, MappingKind } from './mapping.js';

export interface MappingRepository {
  get(id: string): Promise<Mapping | undefined>;
  list(): Promise<Mapping[]>;
  /** Every enabled mapping, for the collection-time cache. */
  listEnabled(): Promise<Mapping[]>;
  /** Undefined when the id is taken. */
  create(mapping: MappingInput & { id: string }): Promise<Mapping | undefined>;
  update(id: string, mapping: MappingInput): Promise<Mapping | undefined>;
  /** Forgets which events the mapping was applied to as well. */
  delete(id: string): Promise<boolean>;
}

/** `occurred_at` bounds of a backfill: `from` inclusive, `to` exclusive. */
export interface BackfillRange {
  from?: Date;
  to?: Date;
}

/** The payload of one job on a mapping queue. */
export interface BackfillBatch {
  runId: string;
  mappingId: string;
  batch: number;
}

export interface BatchOutcome {
  events: number;
  errors: number;
}

export interface BackfillStore {
  /**
   * Cuts the stored events of the mapping's type (within the range) into batches of about
   * `batchSize` consecutive events and records the run with its batches, in one transaction.
   */
  plan(runId: string, mapping: Mapping, range: BackfillRange, batchSize: number): Promise<JobRun>;
  /**
   * Applies `mapping` (as it is now; undefined when it is gone or disabled) to one batch and marks
   * the batch done in the same transaction. Undefined when the batch was done already.
   */
  runBatch(work: BackfillBatch, mapping: Mapping | undefined): Promise<BatchOutcome | undefined>;
  markFailed(runId: string, error: string): Promise<void>;
  /** Clears the failure of every unfinished backfill and returns the batches it still has to do. */
  reopenUnfinished(): Promise<(BackfillBatch & { kind: MappingKind })[]>;
}

/** What the mapping and job routes need, wired by the entry. */
export interface MappingServices {
  mappings: MappingRepository;
  /** Told after every change, so this process's collection time sees it at once. */
  mappingCache: { forget(): void };
  /** Starts a backfill of one mapping; resolves with the job run id. */
  backfill: (mappingId: string, range: BackfillRange) => Promise<string>;
  jobRuns: JobRunRepository;
}
