import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'meridian'): Logger {
  return pino({ name, level });
}
