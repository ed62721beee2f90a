/**
 * Runs work one after another per key and side by side across keys: the scheduler's lanes, which keep
 * a profile's events in due order across the batches in flight while other profiles go ahead.
 */
export class Lanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Starts `work` once everything given earlier for `key` has settled (failed or not). */
  run(key: string, work: () => Promise<void>): Promise<void> {
    const ran = (this.tails.get(key) ?? Promise.resolve()).then(work);
    const tail = ran.catch(() => undefined);
    this.tails.set(key, tail);
    // The last tail of a key removes it, so an idle lane holds nothing.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return ran;
  }

  /** Keys with work given and not yet settled. */
  get busy(): number {
    return this.tails.size;
  }
}
