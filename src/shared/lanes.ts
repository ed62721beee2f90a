/**
 * Runs async tasks at most `width` at a time. `add` returns once the task has a lane; `drain` waits
 * for all of them. A failed task lets the running ones finish, then `add` and `drain` throw its error.
 */
export class Lanes {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(private readonly width: number) {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`lanes: width must be a positive whole number, got ${width}`);
  }

  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.width) await Promise.race(this.running);
    this.throwIfFailed();
    const run: Promise<void> = task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
