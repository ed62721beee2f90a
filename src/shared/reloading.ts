/**
 * A value the hot path reads often and the admin API rarely changes (enabled mappings, rules): loaded
 * in one query and kept for `ttlMs`. A change made through this process is seen at once (forget), one
 * made through another process within `ttlMs`.
 */
export class Reloading<T> {
  private value: Promise<T> | undefined;
  private expires = 0;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.value && this.expires > this.clock()) return this.value;
    this.expires = this.clock() + this.ttlMs;
    // Concurrent callers share one query; a failed one is not kept.
    const loading = this.load();
    loading.catch(() => {
      if (this.value === loading) this.value = undefined;
    });
    this.value = loading;
    return loading;
  }

  forget(): void {
    this.value = undefined;
  }
}
