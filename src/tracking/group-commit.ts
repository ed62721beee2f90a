/**
 * Group commit: requests that arrive while a commit is in flight share the next one, so a /track
 * request costs a place in a transaction, not a transaction of its own. Each caller's promise
 * settles only after the batch holding it has committed (or failed).
 */
export interface GroupCommitOptions {
  /** Most items in one flush. */
  maxBatch: number;
  /** How long the first item of an idle batch waits for company; 0 flushes on the next tick. */
  maxWaitMs: number;
  /** Flushes allowed in flight at once (1 for a single-connection store). */
  concurrency: number;
}

type Flush<I, O> = (items: I[]) => Promise<O[]>;

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (reason: unknown) => void;
}

export class GroupCommitter<I, O> {
  private queue: Pending<I, O>[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly flush: Flush<I, O>,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far has been flushed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= this.options.concurrency) return;
    if (this.queue.length >= this.options.maxBatch) {
      this.startFlush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.startFlush();
      }, this.options.maxWaitMs);
    }
  }

  private startFlush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0 || this.inFlight >= this.options.concurrency) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.inFlight++;
    void this.run(batch).finally(() => {
      this.inFlight--;
      if (this.queue.length > 0) this.schedule();
      else if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
    });
  }

  private async run(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((pending) => pending.item));
      batch.forEach((pending, index) => pending.resolve(results[index] as O));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad item must not fail its neighbours: commit each on its own, in arrival order, to isolate it.
      for (const pending of batch) {
        await this.flush([pending.item]).then(([result]) => pending.resolve(result as O), pending.reject);
      }
    }
  }
}
