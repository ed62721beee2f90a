import { ConfigError, loadConfig, type Config, type Env } from '../config/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { StoreInUseError } from '../storage/dir-lock.js';

/**
 * A command's work, given its configuration, its logger and the variables it was started with
 * (the environment, with the command's flags laid over it: a flag is a value, never written back).
 */
export type Action = (config: Config, logger: Logger, env: Env) => Promise<void>;
export type Run = (action: Action, env?: Env) => () => Promise<void>;

/** Why start-up was refused, when it is something the user can act on: said in one line, no stack. */
function refusal(error: unknown, config: Config): string | undefined {
  if (error instanceof StoreInUseError) return error.message;
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return `port ${config.port} on ${config.host} is in use by another process: stop it, or set PORT`;
  }
  return undefined;
}

/** Loads configuration, then runs; a configuration or start-up error ends the process with its message. */
export const run: Run =
  (action, env = process.env) =>
  async () => {
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`meridian: invalid configuration: ${error.message}\n`);
        process.exit(2);
      }
      throw error;
    }
    const logger = createLogger(config.logLevel);
    for (const notice of config.notices) logger.warn(notice);
    try {
      await action(config, logger, env);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`meridian: invalid configuration: ${error.message}\n`);
        process.exit(2);
      }
      const refused = refusal(error, config);
      if (refused !== undefined) {
        process.stderr.write(`meridian: ${refused}\n`);
        process.exit(1);
      }
      logger.fatal({ err: error }, 'meridian failed');
      process.stderr.write(`meridian: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    }
  };
