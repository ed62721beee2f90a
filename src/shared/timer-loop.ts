import type { Logger } from './logger.js';

export interface TimerLoop {
  /** Stops the timer and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Runs `run` every `intervalMs`, the first time one interval after start; an interval of 0 never runs
 * it. Runs never overlap: the next is timed from the end of the previous one. A failed run is logged
 * as `failure` and the loop goes on, so the next run is the retry.
 */
export function runEvery(intervalMs: number, run: () => Promise<unknown>, logger: Logger, failure: string): TimerLoop {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run()
        .catch((error: unknown) => logger.error({ err: error }, failure))
        .finally(next);
    }, intervalMs);
  };
  if (intervalMs > 0) next();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
