/**
 * Job runs belong to no one capability: any background work cut into batches (a mapping backfill,
 * a data migration, a deploy) records its progress as a run, which `GET /jobs/{id}` reports.
 */
export type JobRunState = 'queued' | 'running' | 'done' | 'failed';

/** A run of background work cut into batches; `total`/`done` count items (events for a backfill). */
export interface JobRun {
  id: string;
  kind: string;
  /** What the run works on: the mapping id of a mapping backfill, the name of a data migration. */
  subject: string | null;
  state: JobRunState;
  total: number;
  done: number;
  /** Items that could not be applied (they are skipped, the run goes on). */
  errors: number;
  batches: number;
  batchesDone: number;
  /** Milliseconds spent working through its batches (a data migration's; 0 for other kinds). */
  activeMs: number;
  /** Whether a runner holds its lease now: a data migration some process is working through. */
  leased: boolean;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface JobRunRepository {
  get(id: string): Promise<JobRun | undefined>;
  /** The latest runs first, of one kind (`deploy`, `data-migration`, a mapping kind) or all. */
  list(options: { kind?: string; limit: number }): Promise<JobRun[]>;
}
