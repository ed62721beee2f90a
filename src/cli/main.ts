import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import {
  checkRangeReachesIdle,
  ConfigError,
  loadApiConfig,
  loadHeartbeatConfig,
  type Config,
  type Env,
} from '../config/config.js';
import { firstApiProcess, forkedApiProcess, superviseApiProcesses, supervisesApiProcesses } from './api-processes.js';
import { jobRunProgressLine, terminalLine } from '../importing/progress.js';
import type { JobRun } from '../shared/job-runs.js';
import type { Logger } from '../shared/logger.js';
import type { RowRef } from '../deploy/plan.js';
import {
  Composition,
  describeBackends,
  embeddedStoreExists,
  startApi,
  type ApiRuntime,
  type Repositories,
} from './composition.js';
import { environmentHelp, packageVersion } from './help.js';
import { importCommand } from './import.js';
import { jobCommand, scheduleHeartbeat } from './job.js';
import { run } from './run.js';
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
async function ensureDefaultSource({ settings, sources }: Repositories): Promise<string> {
  const proposed = randomUUID();
  const id = await settings.getOrInit('default_event_source', proposed);
  // Only on the first run: a default source an admin deleted later stays deleted.
  if (id === proposed) {
    await sources.create({
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

async function runStart(config: Config, logger: Logger, env: Env): Promise<void> {
  const heartbeatSettings = loadHeartbeatConfig(env);
  if (heartbeatSettings.intervalSeconds > 0) checkRangeReachesIdle(heartbeatSettings);
  const runtime = await startApi(config, logger, { generateToken: true, workers: ['all'] });
  const heartbeat = scheduleHeartbeat(runtime.root, heartbeatSettings);
  // Bridges: the enabled broker sources, in-process (a broker that is down is retried, not fatal).
  const bridges = await runConfiguredBridges(runtime.root, BRIDGE_TYPES, logger);
  const close = async () => {
    await bridges.stop();
    await heartbeat?.stop();
    await runtime.close();
  };
  closeOnSignal({ close }, logger);
  const sourceId = await ensureDefaultSource(runtime.root.repositories);
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

async function runApi(config: Config, logger: Logger, env: Env): Promise<void> {
  const { processes } = loadApiConfig(env);
  if (processes > 1 && !config.databaseUrl) {
    throw new ConfigError(
      'API_PROCESSES',
      `${processes} processes need PostgreSQL (DATABASE_URL): the embedded PGlite store is opened by one process only`,
    );
  }
  if (supervisesApiProcesses(processes)) {
    // Once, before any process serves: the forked ones then find the schema up to date.
    await (await Composition.open(config, logger)).close();
    superviseApiProcesses(processes, logger);
    return;
  }
  // The in-process queue has no consumer but this process: without Redis the API runs the workers too
  // (every API process its own; their sweeps and claims are safe side by side, as with replicas).
  const runtime = await startApi(config, logger, {
    workers: config.redis ? [] : ['all'],
    migrate: !forkedApiProcess(),
    resumeInterruptedRuns: firstApiProcess(),
  });
  closeOnSignal(runtime, logger);
  const url = await listen(runtime, config);
  if (!runtime.apiToken) logger.warn('API_TOKEN is not set: the admin API answers 401 to every request');
  logger.info({ url, ...describeBackends(config) }, 'api listening');
}

/**
 * On a terminal, a data migration's progress redrawn on one line after each batch, with the bar
 * `meridian import` draws; `end` closes a line its run left open (stopped or failed).
 */
function migrationProgressBar() {
  let open = false;
  return {
    draw(run: JobRun) {
      open = run.state !== 'done';
      // The migration's name rather than its run's id, whose prefix would push the figures off a narrow terminal.
      const line = terminalLine(
        (bar) => `${run.subject ?? run.id}: ${jobRunProgressLine(run, bar)}`,
        process.stderr.columns,
      );
      process.stderr.write(`\r${line}\u001b[K${open ? '' : '\n'}`);
    },
    end() {
      if (open) process.stderr.write('\n');
      open = false;
    },
  };
}

async function runMigrate(config: Config, logger: Logger, planOnly: boolean): Promise<void> {
  const root = await Composition.open(config, logger, { migrate: false });
  try {
    const report = await root.migrate();
    logger.info(
      {
        schema: root.db.schema,
        applied: report.applied.map((m) => `${m.version}_${m.name}`),
        alreadyApplied: report.alreadyApplied,
      },
      report.applied.length ? 'migrations applied' : 'schema is up to date',
    );
    // Ctrl-C or SIGTERM stops after the current batch and lets the run go, so that the next process
    // (a started one, or `meridian migrate` again) takes it at once rather than once its lease runs out.
    const stop = new AbortController();
    const bar = process.stderr.isTTY === true ? migrationProgressBar() : undefined;
    const onSignal = () => {
      bar?.end();
      process.stderr.write('stopping the data migrations after the current batch…\n');
      stop.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await root.migrateData({ planOnly, signal: stop.signal, ...(bar ? { onBatch: bar.draw } : {}) });
    } finally {
      bar?.end();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (stop.signal.aborted) {
      process.stderr.write(
        'data migrations stopped before they were done: `meridian migrate`, or any process started on this store, goes on from the last batch\n',
      );
      process.exitCode = 1;
    }
  } finally {
    await root.close();
  }
}

/** `meridian deploy`: one line a row that is created, changed or kept, then the totals. */
async function runDeploy(config: Config, logger: Logger, dryRun: boolean): Promise<void> {
  if (!config.databaseUrl && !embeddedStoreExists(config))
    throw new Error(`no embedded store in ${config.dataDir} (DATA_DIR): nothing to deploy`);
  // Neither context is migrated here: the deploy refuses contexts that are not both up to date.
  const root = await Composition.open(config, logger, { migrate: false });
  try {
    const report = await root.deployer().deploy({ dryRun });
    const row = (ref: RowRef) => `${ref.id}${ref.name ? ` (${ref.name})` : ''}`;
    for (const item of report.items.filter((each) => each.action !== 'unchanged'))
      process.stdout.write(
        `${item.action.padEnd(8)} ${item.table.padEnd(22)} ${row(item)}${item.fields ? `: ${item.fields.join(', ')}` : ''}${item.conflictsWith ? ` held by ${row(item.conflictsWith)} in production` : ''}\n`,
      );
    const { create, change, unchanged, kept, conflict } = report.summary;
    const verb = dryRun ? 'would create' : 'created';
    process.stdout.write(
      `${report.from} → ${report.to}: ${verb} ${create}, ${dryRun ? 'would change' : 'changed'} ${change}, ` +
        `${unchanged} unchanged, ${kept} only in production (kept)` +
        `${conflict ? `, ${conflict} in conflict (a deploy is refused)` : ''}${report.jobId ? `; job ${report.jobId}` : ''}\n`,
    );
  } finally {
    await root.close();
  }
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
    .addHelpText('after', environmentHelp('server', 'api'))
    .action(run(runApi));
  program
    .command('migrate')
    .description(
      'apply schema migrations, then plan and run data migrations in batches (idempotent, resumable, safe to run concurrently)',
    )
    .option(
      '--plan-only',
      'plan the data migrations (GET /jobs/data-migration-NAME) without running them: started processes run them',
    )
    .addHelpText('after', environmentHelp('server'))
    .action((options: { planOnly?: boolean }) =>
      run((config, logger) => runMigrate(config, logger, options.planOnly === true))(),
    );
  program
    .command('deploy')
    .description(
      "copy the test context's configuration (sources, segments, mappings, flows, rules, imports…) to production",
    )
    .option('--dry-run', 'list what would be created and changed, change nothing')
    .addHelpText('after', environmentHelp('server'))
    .action((options: { dryRun?: boolean }) =>
      run((config, logger) => runDeploy(config, logger, options.dryRun === true))(),
    );
  program.addCommand(workerCommand(run));
  program.addCommand(jobCommand(run));
  program.addCommand(mappingCommand(run));
  program.addCommand(bridgeCommand(run));
  program.addCommand(importCommand(run));
  return program;
}

await buildCli().parseAsync(process.argv);
