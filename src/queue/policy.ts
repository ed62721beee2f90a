/**
 * What both adapters must agree on — defaults, validation, backoff, retention, failure logging —
 * kept in one place so the embedded mode behaves like production.
 */
import type { Logger } from '../shared/logger.js';
import type { ConsumeOptions, Job, JobHandler, JobOptions } from './port.js';

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 1_000;
/** Finished jobs kept (newest first) for counts, inspection and jobId dedupe; older ones are dropped. */
export const KEEP_COMPLETED = 1_000;
export const KEEP_FAILED = 10_000;

export interface ResolvedJobOptions {
  delayMs: number;
  attempts: number;
  backoffMs: number;
  jobId?: string;
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be a whole number ≥ ${min}, got ${value}`);
  }
  return value;
}

// BullMQ's rules, enforced for both adapters so a jobId that works embedded also works on Redis.
function validJobId(jobId: string): string {
  if (jobId === '' || /^\d+$/.test(jobId) || jobId.includes(':')) {
    throw new RangeError(`jobId must be non-empty, not all digits and without ":", got "${jobId}"`);
  }
  return jobId;
}

export function resolveJobOptions(opts: JobOptions = {}): ResolvedJobOptions {
  return {
    delayMs: wholeNumber('delayMs', opts.delayMs ?? 0, 0),
    attempts: wholeNumber('attempts', opts.attempts ?? DEFAULT_ATTEMPTS, 1),
    backoffMs: wholeNumber('backoffMs', opts.backoffMs ?? DEFAULT_BACKOFF_MS, 0),
    ...(opts.jobId === undefined ? {} : { jobId: validJobId(opts.jobId) }),
  };
}

export function resolveConcurrency(opts: ConsumeOptions = {}): number {
  return wholeNumber('concurrency', opts.concurrency ?? 1, 1);
}

/** Wait before the attempt after `failedAttempt`; the same curve as BullMQ's 'exponential' backoff. */
export function retryDelayMs(backoffMs: number, failedAttempt: number): number {
  return Math.round(backoffMs * 2 ** (failedAttempt - 1));
}

/** Runs one attempt; a failure is logged here (once, for both adapters) and rethrown. */
export async function runAttempt<T>(
  handler: JobHandler<T>,
  job: Job<T>,
  attempts: number,
  logger: Logger,
): Promise<void> {
  try {
    await handler(job);
  } catch (error) {
    const context = { err: error, queue: job.queue, jobId: job.id, attempt: job.attempt, attempts };
    if (job.attempt < attempts) logger.warn(context, 'job attempt failed; it will be retried');
    else logger.error(context, 'job failed on its last attempt');
    throw error;
  }
}
