import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { checkRangeReachesIdle, ConfigError, loadConfig, loadHeartbeatConfig, type Config } from '../config/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { SqlEventSources } from '../storage/sql-event-sources.js';
import { SqlSettings } from '../storage/sql-settings.js';
import { migrate } from '../storage/migrate.js';
import { StoreInUseError } from '../storage/dir-lock.js';
import { environmentHelp, packageVersion } from './help.js';
import { jobCommand, scheduleHeartbeat } from './job.js';
import { describeBackends, openDatabase, startApi, WORKER_NAMES, type ApiRuntime } from './runtime.js';
import { mappingCommand, workerCommand } from './work.js';
import { bridgeCommand, runConfiguredBridges } from './bridge.js';
import { BRIDGE_TYPES } from '../bridges/source-config.js';

function closeOnSignal(runtime: { close(): Promise<void> }, logger: Logger): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function listen(runtime: ApiRuntime, config: Config): Promise<string> {
  await runtime.app.listen({ host: config.host, port: config.port });
  const address = runtime.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host}:${port}`;
}

/** The embedded start's first run creates an event source, so a tracker can post right away. */
async function ensureDefaultSource(runtime: ApiRuntime): Promise<string> {
  const proposed = randomUUID();
  const id = await new SqlSettings(runtime.db).getOrInit('default_event_source', proposed);
  // Only on the first run: a default source an admin deleted later stays deleted.
  if (id === proposed) {
    await new SqlEventSources(runtime.db).create({
      id,
      name: 'Default source',
      description: 'Created by meridian start',
      enabled: true,
      type: 'rest',
      config: {},
    });
  }
  return id;
}

async function runStart(config: Config, logger: Logger): Promise<void> {
  const heartbeatSettings = loadHeartbeatConfig();
  if (heartbeatSettings.intervalSeconds > 0) checkRangeReachesIdle(heartbeatSettings);
  const runtime = await startApi(config, logger, { generateToken: true, workers: WORKER_NAMES });
  const heartbeat = scheduleHeartbeat(runtime.db, heartbeatSettings, config, logger);
  // Bridges: the enabled broker sources, in-process (a broker that is down is retried, not fatal).
  const bridges = await runConfiguredBridges(runtime.db, runtime.tracker, BRIDGE_TYPES, logger);
  const close = async () => {
    await bridges.stop();
    await heartbeat?.stop();
    await runtime.close();
  };
  closeOnSignal({ close }, logger);
  const sourceId = await ensureDefaultSource(runtime);
  const url = await listen(runtime, config);
  const backends = describeBackends(config);
  logger.info({ url, sourceId, ...backends }, 'meridian started');
  process.stdout.write(
    [
      '',
      `Meridian is running at ${url}`,
      `  storage:       ${backends.storage}`,
      `  queue:         ${backends.queue}`,
      `  event source:  ${sourceId}`,
      `  admin token:   ${runtime.apiToken}`,
      `  API docs:      ${url}/openapi.json`,
      '',
      `Try: curl -X POST ${url}/track -H 'content-type: application/json' \\`,
      `       -d '{"source":{"id":"${sourceId}"},"events":[{"type":"page-view","properties":{"url":"/"}}]}'`,
      '',
    ].join('\n'),
  );
}

async function runApi(config: Config, logger: Logger): Promise<void> {
  // The in-process queue has no consumer but this process: without Redis the API runs the workers too.
  const runtime = await startApi(config, logger, { workers: config.redis ? [] : WORKER_NAMES });
  closeOnSignal(runtime, logger);
  const url = await listen(runtime, config);
  if (!runtime.apiToken) logger.warn('API_TOKEN is not set: the admin API answers 401 to every request');
  logger.info({ url, ...describeBackends(config) }, 'api listening');
}

async function runMigrate(config: Config, logger: Logger): Promise<void> {
  const db = await openDatabase(config);
  try {
    const report = await migrate(db);
    logger.info(
      {
        schema: db.schema,
        applied: report.applied.map((m) => `${m.version}_${m.name}`),
        alreadyApplied: report.alreadyApplied,
      },
      report.applied.length ? 'migrations applied' : 'schema is up to date',
    );
  } finally {
    await db.close();
  }
}

type Action = (config: Config, logger: Logger) => Promise<void>;

/** Why start-up was refused, when it is something the user can act on: said in one line, no stack. */
function refusal(error: unknown, config: Config): string | undefined {
  if (error instanceof StoreInUseError) return error.message;
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return `port ${config.port} on ${config.host} is in use by another process: stop it, or set PORT`;
  }
  return undefined;
}

/** Loads configuration, then runs; a configuration or start-up error ends the process with its message. */
function run(action: Action): () => Promise<void> {
  return async () => {
    let config: Config;
    try {
      config = loadConfig();
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
      await action(config, logger);
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
}

export function buildCli(): Command {
  const program = new Command('meridian')
    .description('Meridian customer data platform: one binary, every role.')
    .version(packageVersion(), '-V, --version', 'print the version');
  program
    .command('start')
    .description('everything in one process on the embedded default (PGlite in ./data, in-process queue)')
    .addHelpText('after', environmentHelp('server', 'heartbeat'))
    .action(run(runStart));
  program
    .command('api')
    .description('tracking + admin HTTP API, stateless, any number of replicas (port 8686)')
    .addHelpText('after', environmentHelp('server'))
    .action(run(runApi));
  program
    .command('migrate')
    .description('apply schema migrations (idempotent, safe to run concurrently)')
    .addHelpText('after', environmentHelp('server'))
    .action(run(runMigrate));
  program.addCommand(workerCommand(run));
  program.addCommand(jobCommand(run));
  program.addCommand(mappingCommand(run));
  program.addCommand(bridgeCommand(run));
  return program;
}

await buildCli().parseAsync(process.argv);
