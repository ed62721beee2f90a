import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** A logger writing JSON lines to stdout, or to `destination`. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ name: 'meridian', level }, destination);
}
