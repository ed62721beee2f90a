/**
 * BullMQ adapter: the job-queue port on Redis, for server mode.
 *
 * Connections: one shared ioredis client for every Queue (ioredis gives a command up after 20 retries,
 * so an enqueue during an outage errors instead of hanging), and one shared client for every Worker with
 * `maxRetriesPerRequest: null`, as BullMQ requires, so consumers ride out an outage. BullMQ duplicates
 * the worker client for each Worker's blocking connection and closes those duplicates itself.
 */
import { Queue, Worker, isNotConnectionError, type Job as BullmqJob, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { EventEmitter } from 'node:events';
import type { Logger } from '../shared/logger.js';
import { bullmqQueueName } from './names.js';
import { KEEP_COMPLETED, KEEP_FAILED, resolveConcurrency, resolveJobOptions, runAttempt } from './policy.js';
import {
  QueueClosedError,
  QueueUnavailableError,
  type ConsumeOptions,
  type Consumer,
  type JobHandler,
  type JobOptions,
  type JobQueue,
  type QueueCounts,
} from './port.js';
import { withTimeout } from '../shared/timeout.js';

/** Where Redis is; the composition root fills it from REDIS_HOST and friends. */
export interface RedisConnection {
  host: string;
  port: number;
  password?: string;
  db: number;
  tls: boolean;
}

export interface BullmqJobQueueOptions {
  redis: RedisConnection;
  /** Redis key prefix, e.g. `meridian:prod`; keeps data contexts and parallel test runs apart. */
  prefix: string;
  logger: Logger;
  /** How long an enqueue may wait for Redis before it fails; ENQUEUE_TIMEOUT_MS when absent. */
  enqueueTimeoutMs?: number;
}

/** A health check must answer quickly even while ioredis keeps reconnecting. */
const PING_TIMEOUT_MS = 2_000;
/**
 * While Redis hangs or reconnects, ioredis holds a command until Redis answers or its retries run
 * out, which took as long as the outage itself: an enqueue gives up sooner, so no caller waits on it.
 */
export const ENQUEUE_TIMEOUT_MS = 2_000;

/** ioredis options for a RedisConnection; exported so tests connect exactly as the adapter does. */
export function ioredisOptions({ host, port, password, db, tls }: RedisConnection): RedisOptions {
  return { host, port, password, db, ...(tls ? { tls: {} } : {}) };
}

function toBullmqJobOptions(opts: JobOptions | undefined): JobsOptions {
  const { delayMs, attempts, backoffMs, jobId } = resolveJobOptions(opts);
  return {
    delay: delayMs,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    removeOnComplete: { count: KEEP_COMPLETED },
    removeOnFail: { count: KEEP_FAILED },
    ...(jobId === undefined ? {} : { jobId }),
  };
}

function jobIdOf(job: BullmqJob): string {
  if (job.id === undefined) throw new Error(`BullMQ returned a job without an id on "${job.queueName}"`);
  return job.id;
}

async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}

export class BullmqJobQueue implements JobQueue {
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly queueConnection: Redis;
  private readonly workerConnection: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Set<Worker>();
  private readonly enqueueTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(options: BullmqJobQueueOptions) {
    if (options.prefix.trim() === '') throw new Error('BullmqJobQueue: prefix must not be empty');
    this.prefix = options.prefix;
    this.logger = options.logger;
    this.enqueueTimeoutMs = options.enqueueTimeoutMs ?? ENQUEUE_TIMEOUT_MS;
    const base = ioredisOptions(options.redis);
    this.queueConnection = this.logConnectionErrors(new Redis(base), 'queue connection');
    this.workerConnection = this.logConnectionErrors(
      new Redis({ ...base, maxRetriesPerRequest: null, lazyConnect: true }),
      'worker connection',
    );
  }

  async enqueue<T>(queue: string, data: T, opts?: JobOptions): Promise<string> {
    const job = await this.accepted(queue, this.queue(queue).add(queue, data, toBullmqJobOptions(opts)));
    return jobIdOf(job);
  }

  async enqueueBulk<T>(queue: string, items: readonly { data: T; opts?: JobOptions }[]): Promise<string[]> {
    const jobs = await this.accepted(
      queue,
      this.queue(queue).addBulk(
        items.map((item) => ({ name: queue, data: item.data, opts: toBullmqJobOptions(item.opts) })),
      ),
    );
    return jobs.map(jobIdOf);
  }

  /** An enqueue that Redis has not answered in time fails (its command may still run once Redis is back). */
  private async accepted<T>(queue: string, adding: Promise<T>): Promise<T> {
    try {
      return await withTimeout(
        adding,
        this.enqueueTimeoutMs,
        `Redis did not answer within ${this.enqueueTimeoutMs} ms`,
      );
    } catch (error) {
      throw new QueueUnavailableError(queue, { cause: error });
    }
  }

  consume<T>(queue: string, handler: JobHandler<T>, opts?: ConsumeOptions): Consumer {
    this.assertOpen();
    const worker = new Worker<T>(
      bullmqQueueName(queue),
      (job) => {
        const attempts = job.opts.attempts ?? 1;
        const view = { id: jobIdOf(job), queue, data: job.data, attempt: job.attemptsMade + 1 };
        return runAttempt(handler, view, attempts, this.logger);
      },
      { connection: this.workerConnection, prefix: this.prefix, concurrency: resolveConcurrency(opts) },
    );
    this.workers.add(this.logErrors(worker, `worker ${queue}`));
    return {
      close: async () => {
        await worker.close();
        this.workers.delete(worker);
      },
    };
  }

  async counts(queue: string): Promise<QueueCounts> {
    const states = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
    const counts = await this.queue(queue).getJobCounts(...states);
    return {
      waiting: counts['waiting'] ?? 0,
      active: counts['active'] ?? 0,
      delayed: counts['delayed'] ?? 0,
      failed: counts['failed'] ?? 0,
      completed: counts['completed'] ?? 0,
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await withTimeout(
      this.queueConnection.ping(),
      PING_TIMEOUT_MS,
      `Redis did not answer PING within ${PING_TIMEOUT_MS} ms`,
    );
  }

  close(): Promise<void> {
    // Workers first (they finish their running jobs), then queues, then the connections they share.
    this.closing ??= (async () => {
      await Promise.all([...this.workers].map((worker) => worker.close()));
      this.workers.clear();
      await Promise.all([...this.queues.values()].map((queue) => queue.close()));
      this.queues.clear();
      await Promise.all([closeConnection(this.workerConnection), closeConnection(this.queueConnection)]);
    })();
    return this.closing;
  }

  private queue(logical: string): Queue {
    this.assertOpen();
    let queue = this.queues.get(logical);
    if (queue === undefined) {
      queue = this.logErrors(
        new Queue(bullmqQueueName(logical), { connection: this.queueConnection, prefix: this.prefix }),
        `queue ${logical}`,
      );
      this.queues.set(logical, queue);
    }
    return queue;
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new QueueClosedError();
  }

  // Without a listener an 'error' event would crash the process. Outages are logged once, by the
  // connection that sees them; Queues and Workers re-emit those too, so they only log other errors.
  private logConnectionErrors(connection: Redis, source: string): Redis {
    connection.on('error', (err: Error) => this.logger.warn({ err, source }, 'Redis connection error'));
    return connection;
  }

  private logErrors<E extends EventEmitter>(emitter: E, source: string): E {
    emitter.on('error', (err: Error) => {
      if (isNotConnectionError(err)) this.logger.error({ err, source }, 'job queue error');
    });
    return emitter;
  }
}
