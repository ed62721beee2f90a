import type { Logger } from '../shared/logger.js';

export interface Schedule {
  /** Stops the timer and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Runs `tick` every `intervalMs`, the first time one interval after start. Runs never overlap: the
 * next is timed from the end of the previous one. A failed run is logged and the timer goes on.
 */
export function every(intervalMs: number, tick: () => Promise<void>, logger: Logger): Schedule {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((error: unknown) => logger.error({ err: error }, 'scheduled run failed'))
        .finally(next);
    }, intervalMs);
  };
  next();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
