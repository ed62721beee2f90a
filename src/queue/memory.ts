/**
 * In-process job queue for the embedded single-process mode: the same semantics as the BullMQ adapter
 * (delay, retries with backoff, concurrency, jobId dedupe, retention, counts), nothing durable.
 */
import type { Logger } from '../shared/logger.js';
import { assertLogicalQueueName } from './names.js';
import {
  KEEP_COMPLETED,
  KEEP_FAILED,
  resolveConcurrency,
  resolveJobOptions,
  retryDelayMs,
  runAttempt,
  type ResolvedJobOptions,
} from './policy.js';
import {
  QueueClosedError,
  type ConsumeOptions,
  type Consumer,
  type JobHandler,
  type JobOptions,
  type JobQueue,
  type QueueCounts,
} from './port.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

interface StoredJob {
  id: string;
  data: unknown;
  options: ResolvedJobOptions;
  attemptsStarted: number;
}

/** Finished job ids, oldest first, capped like BullMQ's removeOnComplete/removeOnFail counts. */
class Retained {
  private readonly ids = new Set<string>();

  constructor(
    private readonly limit: number,
    private readonly forget: (id: string) => void,
  ) {}

  get size(): number {
    return this.ids.size;
  }

  add(id: string): void {
    this.ids.add(id);
    for (const oldest of this.ids) {
      if (this.ids.size <= this.limit) break;
      this.ids.delete(oldest);
      this.forget(oldest);
    }
  }
}

class LocalQueue {
  /** Every job whose id still dedupes: pending, running or retained. */
  readonly jobs = new Map<string, StoredJob>();
  readonly waiting: StoredJob[] = [];
  readonly delayTimers = new Map<StoredJob, NodeJS.Timeout>();
  readonly consumers = new Set<LocalConsumer>();
  readonly completed = new Retained(KEEP_COMPLETED, (id) => this.jobs.delete(id));
  readonly failed = new Retained(KEEP_FAILED, (id) => this.jobs.delete(id));
  active = 0;
  private lastId = 0;

  constructor(readonly name: string) {}

  // Auto ids are integers, which custom jobIds may not be, so the two never collide (as in BullMQ).
  nextId(): string {
    this.lastId += 1;
    return String(this.lastId);
  }

  schedule(job: StoredJob, delayMs: number): void {
    if (delayMs === 0) {
      this.waiting.push(job);
      this.dispatch();
      return;
    }
    // A Node.js timer holds at most MAX_TIMER_MS (a longer one fires at once): a longer delay, such
    // as a wake-up for an item scheduled weeks ahead, waits in steps.
    const step = Math.min(delayMs, MAX_TIMER_MS);
    // unref: the server owns the process lifetime; close() clears whatever is still pending.
    const timer = setTimeout(() => {
      this.delayTimers.delete(job);
      this.schedule(job, delayMs - step);
    }, step).unref();
    this.delayTimers.set(job, timer);
  }

  dispatch(): void {
    for (const consumer of this.consumers) {
      while (consumer.hasCapacity()) {
        const job = this.waiting.shift();
        if (job === undefined) return;
        consumer.start(job);
      }
    }
  }

  counts(): QueueCounts {
    return {
      waiting: this.waiting.length,
      active: this.active,
      delayed: this.delayTimers.size,
      failed: this.failed.size,
      completed: this.completed.size,
    };
  }

  clearTimers(): void {
    for (const timer of this.delayTimers.values()) clearTimeout(timer);
    this.delayTimers.clear();
  }
}

class LocalConsumer implements Consumer {
  private readonly running = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly queue: LocalQueue,
    private readonly handler: JobHandler<unknown>,
    private readonly concurrency: number,
    private readonly logger: Logger,
  ) {}

  hasCapacity(): boolean {
    return this.closing === undefined && this.running.size < this.concurrency;
  }

  start(job: StoredJob): void {
    job.attemptsStarted += 1;
    this.queue.active += 1;
    const run = this.attempt(job).finally(() => {
      this.running.delete(run);
      this.queue.dispatch();
    });
    this.running.add(run);
  }

  private async attempt(job: StoredJob): Promise<void> {
    // Yield first so a handler never runs on the enqueue caller's stack, as with a real broker.
    await Promise.resolve();
    const { attempts, backoffMs } = job.options;
    const view = { id: job.id, queue: this.queue.name, data: job.data, attempt: job.attemptsStarted };
    const succeeded = await runAttempt(this.handler, view, attempts, this.logger).then(
      () => true,
      () => false,
    );
    this.queue.active -= 1;
    if (succeeded) this.queue.completed.add(job.id);
    else if (view.attempt < attempts) this.queue.schedule(job, retryDelayMs(backoffMs, view.attempt));
    else this.queue.failed.add(job.id);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.queue.consumers.delete(this);
      await Promise.all(this.running);
    })();
    return this.closing;
  }
}

export class MemoryJobQueue implements JobQueue {
  private readonly queues = new Map<string, LocalQueue>();
  private readonly logger: Logger;
  private closed = false;

  constructor(options: { logger: Logger }) {
    this.logger = options.logger;
  }

  async enqueue<T>(queue: string, data: T, opts?: JobOptions): Promise<string> {
    const [id] = await this.enqueueBulk(queue, [{ data, opts }]);
    return id as string;
  }

  async enqueueBulk<T>(queue: string, items: readonly { data: T; opts?: JobOptions }[]): Promise<string[]> {
    const local = this.open(queue);
    // Resolve every item first so one invalid item rejects the whole batch, as on Redis.
    const resolved = items.map((item) => ({ data: item.data, options: resolveJobOptions(item.opts) }));
    return resolved.map(({ data, options }) => {
      const id = options.jobId ?? local.nextId();
      if (local.jobs.has(id)) return id;
      const job: StoredJob = { id, data: jsonCopy(data), options, attemptsStarted: 0 };
      local.jobs.set(id, job);
      local.schedule(job, options.delayMs);
      return id;
    });
  }

  consume<T>(queue: string, handler: JobHandler<T>, opts?: ConsumeOptions): Consumer {
    const local = this.open(queue);
    const concurrency = resolveConcurrency(opts);
    const consumer = new LocalConsumer(local, handler as JobHandler<unknown>, concurrency, this.logger);
    local.consumers.add(consumer);
    local.dispatch();
    return consumer;
  }

  async counts(queue: string): Promise<QueueCounts> {
    return this.open(queue).counts();
  }

  async ping(): Promise<void> {
    if (this.closed) throw new QueueClosedError();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const queues = [...this.queues.values()];
    await Promise.all(queues.flatMap((queue) => [...queue.consumers].map((consumer) => consumer.close())));
    for (const queue of queues) queue.clearTimers();
  }

  private open(name: string): LocalQueue {
    if (this.closed) throw new QueueClosedError();
    assertLogicalQueueName(name);
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new LocalQueue(name);
      this.queues.set(name, queue);
    }
    return queue;
  }
}

/** Handlers get what Redis would give them, and the caller may keep mutating its own object. */
function jsonCopy(data: unknown): unknown {
  return data === undefined ? undefined : JSON.parse(JSON.stringify(data));
}
