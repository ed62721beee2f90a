import { Command } from 'commander';
import { environmentHelp } from './help.js';
import {
  checkRangeReachesIdle,
  ConfigError,
  loadHeartbeatConfig,
  loadJobConfig,
  type Config,
  type Env,
  type HeartbeatConfig,
} from '../config/config.js';
import { lanesWithin, runHeartbeat, type HeartbeatReport } from '../heartbeat/job.js';
import { resolveDateRange } from '../shared/date-math.js';
import { QUALIFIERS } from '../heartbeat/options.js';
import { runSegmentationCommand, segmentationJobCommand } from './work.js';
import { runEvery, type TimerLoop } from '../shared/timer-loop.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../storage/database.js';
import { pendingMigrations } from '../storage/migrate.js';
import { Composition, embeddedStoreExists } from './composition.js';
import type { Run } from './run.js';
import { purgeExpiredRuns } from '../workflow/run-retention.js';
import { changesHorizon } from '../triggers/retention.js';

/** What the heartbeat job can do: the session qualifiers, or segmenting the profiles active in RANGE. */
export const JOB_QUALIFIERS = [...QUALIFIERS, 'profile-segmentation'] as const;
export type JobQualifier = (typeof JOB_QUALIFIERS)[number];

/** QUALIFY_BY for `meridian job heartbeat`: required, and only what this version can run. */
export function parseQualifyBy(qualifyBy: string | undefined): JobQualifier {
  if (qualifyBy === undefined) throw new ConfigError('QUALIFY_BY', `required: one of ${JOB_QUALIFIERS.join(', ')}`);
  if (!(JOB_QUALIFIERS as readonly string[]).includes(qualifyBy)) {
    throw new ConfigError('QUALIFY_BY', `expected one of ${JOB_QUALIFIERS.join(', ')}, got "${qualifyBy}"`);
  }
  return qualifyBy as JobQualifier;
}

/**
 * Each flag overrides the variable of the same meaning, so a docker `-e` line maps one to one: the
 * flags are laid over a copy of the environment, which the command reads its configuration from.
 */
const FLAG_VARIABLES = {
  qualifyBy: 'QUALIFY_BY',
  range: 'RANGE',
  skipSeconds: 'SKIP_SECONDS',
  eventType: 'EVENT_TYPE',
  openEventType: 'OPEN_EVENT_TYPE',
  closeEventType: 'CLOSE_EVENT_TYPE',
  production: 'PRODUCTION',
  databaseUrl: 'DATABASE_URL',
  redisHost: 'REDIS_HOST',
  redisPassword: 'REDIS_PASSWORD',
  lanes: 'HEARTBEAT_LANES',
} as const;

const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

export function withFlags(env: Env, options: Record<string, unknown>): Env {
  const merged: Env = { ...env };
  for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
    const value = options[flag];
    if (typeof value === 'string') merged[variable] = value;
  }
  return merged;
}

/**
 * HEARTBEAT_LANES, within the PostgreSQL connections left when `reserved` are kept for others (PGlite
 * has one connection, which its lanes take turns on); a warning when it asks for more.
 */
function heartbeatLanes(
  db: Database,
  settings: HeartbeatConfig,
  config: Config,
  reserved: number,
  logger: Logger,
): number {
  if (db.kind === 'pglite') return settings.lanes;
  const lanes = lanesWithin(settings.lanes, config.databasePoolSize, reserved);
  if (lanes < settings.lanes) {
    logger.warn(
      { requested: settings.lanes, lanes, databasePoolSize: config.databasePoolSize },
      'HEARTBEAT_LANES is more than DATABASE_POOL_SIZE leaves the heartbeat; running fewer lanes',
    );
  }
  return lanes;
}

/**
 * The heartbeat also keeps the workflow run history to WORKFLOW_RUN_RETENTION_DAYS, and the consumed
 * segment changes to SEGMENT_CHANGES_RETENTION_DAYS.
 */
async function purgeExpiredHistory(root: Composition, logger: Logger): Promise<void> {
  const { workflowRunRetentionDays, segmentChangesRetentionDays } = root.config;
  const now = new Date();
  const runs = await purgeExpiredRuns(root.repositories.runHistory, workflowRunRetentionDays, now);
  if (runs > 0) logger.info({ removed: runs, retentionDays: workflowRunRetentionDays }, 'old workflow runs removed');
  const horizon = changesHorizon(segmentChangesRetentionDays, now);
  const changes = horizon ? await root.repositories.triggers.purgeConsumedBefore(horizon) : 0;
  if (changes > 0)
    logger.info({ removed: changes, retentionDays: segmentChangesRetentionDays }, 'old segment changes removed');
}

function summary(report: HeartbeatReport): string {
  const range = `${report.from.toISOString()} .. ${report.to.toISOString()}`;
  const outcome = report.dryRun ? `would register ${report.due}` : `registered ${report.registered}`;
  return `heartbeat ${report.qualifyBy}: ${report.inRange} sessions in ${range}, ${outcome} ${report.eventType} events in ${report.elapsedMs} ms${report.dryRun ? ' (dry run: nothing changed)' : ''}\n`;
}

async function runHeartbeatJob(config: Config, logger: Logger, env: Env, dryRun: boolean): Promise<void> {
  // Configuration first: a bad variable stops the job before it touches the store.
  const qualifyBy = parseQualifyBy(loadJobConfig(env).qualifyBy);
  const settings = loadHeartbeatConfig(env);
  if (qualifyBy === 'profile-segmentation') {
    const { from, to } = resolveDateRange(settings.range, new Date());
    if (dryRun) {
      process.stdout.write(
        `would re-segment profiles updated in ${from.toISOString()} .. ${to.toISOString()} (dry run: nothing changed)\n`,
      );
    } else {
      await runSegmentationCommand(config, logger, { updatedSince: from, updatedBefore: to });
    }
    return;
  }
  checkRangeReachesIdle(settings);
  if (dryRun && !config.databaseUrl && !embeddedStoreExists(config)) {
    throw new Error(
      `no embedded store in ${config.dataDir} (DATA_DIR): nothing to look at, and a dry run creates nothing`,
    );
  }
  const root = await Composition.open(config, logger, { migrate: false });
  try {
    try {
      await root.db.query('SELECT 1');
    } catch (error) {
      const where = config.databaseUrl
        ? `PostgreSQL at ${new URL(config.databaseUrl).host} (DATABASE_URL)`
        : 'the embedded store';
      throw new Error(`cannot reach ${where}: ${(error as Error).message}`, { cause: error });
    }
    if (dryRun) await refuseIfNotMigrated(root.db);
    else await root.migrate();
    // One connection stays for the in-range count, which runs beside the planning.
    const lanes = heartbeatLanes(root.db, settings, config, 1, logger);
    const report = await runHeartbeat(
      { qualifyBy, settings, now: new Date(), dryRun, lanes },
      root.heartbeatServices(),
    );
    for (const session of report.wouldRegister) {
      process.stdout.write(
        `would register ${report.eventType} for session ${session.id} (profile ${session.profileId}, last activity ${session.lastActivity})\n`,
      );
    }
    process.stdout.write(summary(report));
    if (!dryRun) await purgeExpiredHistory(root, logger);
  } finally {
    await root.close();
  }
}

/** A dry run changes nothing, migrations included: on a store behind this version it stops and says so. */
async function refuseIfNotMigrated(db: Database): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    const names = pending
      .map((migration) => `${String(migration.version).padStart(4, '0')}_${migration.name}`)
      .join(', ');
    throw new Error(
      `the store (schema ${db.schema}) lacks migrations ${names}; a dry run changes nothing, so run \`meridian migrate\` first`,
    );
  }
}

/** `meridian job heartbeat`: one run, configured as the reference's heartbeat job container. */
export function jobCommand(run: Run): Command {
  const job = new Command('job').description('run a job once and exit (for cron or a Kubernetes CronJob)');
  const heartbeat = job
    .command('heartbeat')
    .description(
      `close visits, flag inactive sessions and profiles, or segment active profiles (QUALIFY_BY: ${JOB_QUALIFIERS.join(' | ')})`,
    )
    .addHelpText('after', environmentHelp('job', 'heartbeat', 'server'));
  for (const [flag, variable] of Object.entries(FLAG_VARIABLES))
    heartbeat.option(`--${kebab(flag)} <value>`, `overrides ${variable}`);
  heartbeat
    .option('--dry-run', 'print what would be registered, change nothing')
    .action((options: Record<string, unknown>) =>
      run(
        (config, logger, env) => runHeartbeatJob(config, logger, env, options['dryRun'] === true),
        withFlags(process.env, options),
      )(),
    );
  job.addCommand(segmentationJobCommand(run));
  return job;
}

/**
 * PGlite has one connection, shared with /track: a slice's transaction holds it, and /track waits for
 * it, so the embedded store works in small slices that keep that wait short.
 */
const EMBEDDED_BATCH_SIZE = 1_000;

/** `meridian start` runs visit-end and inactive-session on its own timer; HEARTBEAT_INTERVAL_S=0 switches it off. */
export function scheduleHeartbeat(root: Composition, settings: HeartbeatConfig): TimerLoop | undefined {
  if (settings.intervalSeconds === 0) return undefined;
  const { db, config, logger } = root;
  const services = root.heartbeatServices(logger.child({ job: 'heartbeat' }));
  const batchSize = db.kind === 'pglite' ? EMBEDDED_BATCH_SIZE : undefined;
  // /track's commit lanes keep their connections, and one more stays for the workers and the admin API.
  const lanes = heartbeatLanes(db, settings, config, config.commitLanes + 1, logger);
  return runEvery(
    settings.intervalSeconds * 1000,
    async () => {
      for (const qualifyBy of QUALIFIERS)
        await runHeartbeat({ qualifyBy, settings, now: new Date(), batchSize, lanes }, services);
      await purgeExpiredHistory(root, services.logger);
    },
    logger,
    'scheduled heartbeat failed; will retry',
  );
}
