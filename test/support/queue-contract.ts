/**
 * The behaviour every JobQueue adapter must show, as a vitest suite. Each adapter's test file calls
 * jobQueueContract inside its own describe; every test gets a fresh adapter and its own queue name.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { QueueClosedError, type Job, type JobQueue } from '../../src/queue/port.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const poll = { timeout: 5_000, interval: 5 };
/** Long enough for a wrongly delivered extra run to show up; short enough to keep the suite fast. */
const SETTLE_MS = 60;
/** Timers may fire up to a millisecond early against the wall clock. */
const TIMER_SLACK_MS = 2;

export function jobQueueContract(createQueue: () => JobQueue): void {
  let queue: JobQueue;
  beforeEach(() => {
    queue = createQueue();
  });
  afterEach(async () => {
    await queue.close();
  });

  const completed = (name: string) => expect.poll(async () => (await queue.counts(name)).completed, poll);

  it('runs a job exactly once, with its id, queue, data and attempt', async () => {
    const name = 'contract:once';
    const seen: Job<{ n: number }>[] = [];
    const id = await queue.enqueue(name, { n: 1 });
    queue.consume<{ n: number }>(name, async (job) => {
      seen.push(job);
    });
    await completed(name).toBe(1);
    await sleep(SETTLE_MS);
    expect(seen).toEqual([{ id, queue: name, data: { n: 1 }, attempt: 1 }]);
    expect(await queue.counts(name)).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 1 });
  });

  it('enqueues in bulk', async () => {
    const name = 'contract:bulk';
    const seen: number[] = [];
    const ids = await queue.enqueueBulk(
      name,
      [1, 2, 3, 4, 5].map((n) => ({ data: { n } })),
    );
    expect(new Set(ids).size).toBe(5);
    expect(await queue.counts(name)).toMatchObject({ waiting: 5 });
    queue.consume<{ n: number }>(name, async (job) => {
      seen.push(job.data.n);
    });
    await completed(name).toBe(5);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('runs a delayed job after its delay, not before', async () => {
    const name = 'contract:delayed';
    const delayMs = 150;
    let ranAt: number | undefined;
    const enqueuedAt = Date.now();
    await queue.enqueue(name, {}, { delayMs });
    expect(await queue.counts(name)).toMatchObject({ delayed: 1, waiting: 0 });
    queue.consume(name, async () => {
      ranAt = Date.now();
    });
    await sleep(delayMs / 2);
    expect(ranAt).toBeUndefined();
    await completed(name).toBe(1);
    expect(ranAt! - enqueuedAt).toBeGreaterThanOrEqual(delayMs - TIMER_SLACK_MS);
  });

  it('keeps a job delayed by weeks waiting (past what one Node.js timer holds)', async () => {
    const name = 'contract:far';
    let ran = false;
    await queue.enqueue(name, {}, { delayMs: 30 * 86_400_000 });
    queue.consume(name, async () => {
      ran = true;
    });
    await sleep(SETTLE_MS);
    expect(ran).toBe(false);
    expect(await queue.counts(name)).toMatchObject({ delayed: 1, waiting: 0, completed: 0 });
  });

  it('retries a failing job with exponential backoff until it succeeds', async () => {
    const name = 'contract:retry';
    const backoffMs = 20;
    const attempts: number[] = [];
    const gaps: number[] = [];
    let failedAt = 0;
    await queue.enqueue(name, {}, { attempts: 3, backoffMs });
    queue.consume(name, async (job) => {
      if (failedAt > 0) gaps.push(Date.now() - failedAt);
      attempts.push(job.attempt);
      if (job.attempt < 3) {
        failedAt = Date.now();
        throw new Error(`attempt ${job.attempt} fails on purpose`);
      }
    });
    await completed(name).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(gaps[0]).toBeGreaterThanOrEqual(backoffMs - TIMER_SLACK_MS);
    expect(gaps[1]).toBeGreaterThanOrEqual(2 * backoffMs - TIMER_SLACK_MS);
    expect(await queue.counts(name)).toMatchObject({ failed: 0, delayed: 0, waiting: 0 });
  });

  it('keeps a job that always fails as failed after its last attempt', async () => {
    const name = 'contract:fails';
    const attempts: number[] = [];
    await queue.enqueue(name, {}, { attempts: 2, backoffMs: 5 });
    queue.consume(name, async (job) => {
      attempts.push(job.attempt);
      throw new Error('always fails on purpose');
    });
    await expect.poll(async () => (await queue.counts(name)).failed, poll).toBe(1);
    await sleep(SETTLE_MS);
    expect(attempts).toEqual([1, 2]);
    expect(await queue.counts(name)).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 1, completed: 0 });
  });

  it('runs a jobId once, however often it is enqueued, even after it completed', async () => {
    const name = 'contract:dedupe';
    const seen: number[] = [];
    expect(await queue.enqueue(name, { n: 1 }, { jobId: 'profile-42' })).toBe('profile-42');
    expect(await queue.enqueue(name, { n: 2 }, { jobId: 'profile-42' })).toBe('profile-42');
    const bulkIds = await queue.enqueueBulk(name, [
      { data: { n: 3 }, opts: { jobId: 'profile-42' } },
      { data: { n: 4 }, opts: { jobId: 'profile-43' } },
    ]);
    expect(bulkIds).toEqual(['profile-42', 'profile-43']);
    queue.consume<{ n: number }>(name, async (job) => {
      seen.push(job.data.n);
    });
    await completed(name).toBe(2);
    await queue.enqueue(name, { n: 5 }, { jobId: 'profile-42' });
    await sleep(SETTLE_MS);
    expect(seen.sort()).toEqual([1, 4]);
  });

  it('runs at most `concurrency` handlers at once', async () => {
    const name = 'contract:concurrency';
    let running = 0;
    let mostRunning = 0;
    await queue.enqueueBulk(
      name,
      Array.from({ length: 6 }, (_, n) => ({ data: { n } })),
    );
    queue.consume(
      name,
      async () => {
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await sleep(30);
        running -= 1;
      },
      { concurrency: 2 },
    );
    await completed(name).toBe(6);
    expect(mostRunning).toBe(2);
  });

  it('stops consuming once the consumer is closed', async () => {
    const name = 'contract:consumer-close';
    let runs = 0;
    const consumer = queue.consume(name, async () => {
      runs += 1;
    });
    await queue.enqueue(name, {});
    await completed(name).toBe(1);
    await consumer.close();
    await queue.enqueue(name, {});
    await sleep(SETTLE_MS);
    expect(runs).toBe(1);
    expect(await queue.counts(name)).toMatchObject({ waiting: 1, completed: 1 });
  });

  it('lets the running job finish when its consumer closes', async () => {
    const name = 'contract:graceful-close';
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    let finished = false;
    const consumer = queue.consume(name, async () => {
      started = true;
      await gate;
      finished = true;
    });
    await queue.enqueue(name, {});
    await expect.poll(() => started, poll).toBe(true);
    const closing = consumer.close();
    release();
    await closing;
    expect(finished).toBe(true);
    expect(await queue.counts(name)).toMatchObject({ completed: 1, active: 0 });
  });

  it('rejects invalid queue names and job options without enqueuing anything', async () => {
    const name = 'contract:invalid';
    await expect(queue.enqueue('no spaces allowed', {})).rejects.toThrow(/invalid queue name/);
    await expect(queue.enqueue(name, {}, { jobId: '42' })).rejects.toThrow(/jobId/);
    await expect(queue.enqueue(name, {}, { jobId: 'a:b' })).rejects.toThrow(/jobId/);
    await expect(queue.enqueue(name, {}, { attempts: 0 })).rejects.toThrow(/attempts/);
    const oneBadItem = [{ data: {} }, { data: {}, opts: { delayMs: -1 } }];
    await expect(queue.enqueueBulk(name, oneBadItem)).rejects.toThrow(/delayMs/);
    expect(() => queue.consume(name, async () => {}, { concurrency: 0 })).toThrow(/concurrency/);
    expect(await queue.counts(name)).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 });
  });

  it('answers ping while open and refuses work once closed', async () => {
    await queue.ping();
    await queue.close();
    await expect(queue.enqueue('contract:closed', {})).rejects.toThrow(QueueClosedError);
    await expect(queue.ping()).rejects.toThrow(QueueClosedError);
  });
}
