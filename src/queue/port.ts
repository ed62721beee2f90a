/**
 * The job-queue port. Capabilities enqueue and consume through this interface only; the entry picks
 * the adapter (BullMQ on Redis, or in-process for the embedded mode). A job is a plain async function
 * of its payload, in the spirit of graphile-worker.
 *
 * Payloads must survive a JSON round trip: that is what Redis stores, and the in-process adapter
 * copies them the same way so both adapters hand handlers the same data.
 */

export interface JobOptions {
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Total runs allowed, the first included. Defaults to DEFAULT_ATTEMPTS. */
  attempts?: number;
  /** Base of the exponential backoff between attempts: backoffMs, 2×backoffMs, 4×backoffMs… */
  backoffMs?: number;
  /**
   * Deduplication key: enqueuing an id that is still known (pending, running, or retained after it
   * finished) is a no-op that returns the same id. Not all digits and no `:` (BullMQ's rules).
   */
  jobId?: string;
}

export interface Job<T> {
  id: string;
  /** The logical queue name the job was enqueued on. */
  queue: string;
  data: T;
  /** 1-based: the first run is attempt 1. */
  attempt: number;
}

/** Resolving completes the job; throwing fails this attempt (retried while attempts remain). */
export type JobHandler<T> = (job: Job<T>) => Promise<void>;

export interface ConsumeOptions {
  /** Most handlers of this consumer running at once. Defaults to 1. */
  concurrency?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

export interface Consumer {
  /** Stops taking new jobs and resolves once the running ones have finished. */
  close(): Promise<void>;
}

/**
 * A capability's consumers: the logical queues it takes jobs from and how to start taking them. The
 * composition root registers it under a worker name and hands it the ports it needs.
 */
export interface QueueConsumers<Deps, Options> {
  queues: readonly string[];
  start(deps: Deps, options: Options): Consumer;
}

export interface JobQueue {
  /**
   * Resolves with the job id once the job is accepted (durably, for the Redis adapter); rejects with
   * QueueUnavailableError when the backend does not accept it within a bounded time.
   */
  enqueue<T>(queue: string, data: T, opts?: JobOptions): Promise<string>;
  enqueueBulk<T>(queue: string, items: readonly { data: T; opts?: JobOptions }[]): Promise<string[]>;
  consume<T>(queue: string, handler: JobHandler<T>, opts?: ConsumeOptions): Consumer;
  counts(queue: string): Promise<QueueCounts>;
  /** Throws if the backend is unreachable; used by the health check. */
  ping(): Promise<void>;
  /** Closes consumers (letting running jobs finish), then every connection, so the process can exit. */
  close(): Promise<void>;
}

export class QueueClosedError extends Error {
  constructor() {
    super('the job queue is closed');
    this.name = 'QueueClosedError';
  }
}

/**
 * The backend did not take a job in time: it is down or hanging. The job may still reach it later,
 * so callers keep what must be done in their own store and treat the job as a wake-up.
 */
export class QueueUnavailableError extends Error {
  constructor(queue: string, options?: { cause?: unknown }) {
    super(`the job queue did not take work for "${queue}"`, options);
    this.name = 'QueueUnavailableError';
  }
}
