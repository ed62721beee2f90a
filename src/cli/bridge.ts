import { Command } from 'commander';
import { openAdapter } from '../bridges/adapters/index.js';
import { startBridges, type RunningBridges, type RunOptions } from '../bridges/run.js';
import { BRIDGE_TYPES, isBridgeType, type BridgeType } from '../bridges/source-config.js';
import { formatStatus, STATUS_INTERVAL_MS, viewOf } from '../bridges/status.js';
import { ConfigError } from '../config/config.js';
import type { Logger } from '../shared/logger.js';
import { Composition } from './composition.js';
import { environmentHelp } from './help.js';
import type { Run } from './run.js';

/** Each bridge logs its counters (`bridge stats`: received, stored, deadLettered, retried) this often when they moved. */
export const BRIDGE_STATS_INTERVAL_MS = 60_000;
/** How soon a source added, changed or disabled through the API is served accordingly. */
export const BRIDGE_REFRESH_MS = 10_000;

const RUN_OPTIONS: RunOptions = {
  statsIntervalMs: BRIDGE_STATS_INTERVAL_MS,
  refreshMs: BRIDGE_REFRESH_MS,
  statusIntervalMs: STATUS_INTERVAL_MS,
};

/**
 * Serves the enabled event sources of these broker kinds through the given collect entry, publishing
 * their status in the store (`meridian bridge status`, /healthcheck).
 */
export function runConfiguredBridges(
  root: Composition,
  kinds: readonly BridgeType[],
  logger: Logger,
  options: RunOptions = RUN_OPTIONS,
): Promise<RunningBridges> {
  const { sources, bridgeStatus } = root.repositories;
  const deps = { sources, collector: root.tracking().tracker, logger, openAdapter, status: bridgeStatus };
  return startBridges(deps, kinds, options);
}

/** Prints the status every bridge process published; a process silent for three intervals shows as stale. */
async function printStatus(root: Composition): Promise<void> {
  const now = new Date();
  const views = (await root.repositories.bridgeStatus.list()).map((row) => viewOf(row, now));
  process.stdout.write(`${formatStatus(views)}\n`);
}

export function bridgeCommand(run: Run): Command {
  return new Command('bridge')
    .description(`consume a broker into tracking: every enabled event source of that kind (${BRIDGE_TYPES.join(', ')})`)
    .argument('<kind>', `${BRIDGE_TYPES.join(' | ')} | all, or status: print what every bridge process published`)
    .addHelpText('after', environmentHelp('server'))
    .action((kind: string) =>
      run(async (config, logger) => {
        if (kind === 'status') {
          const root = await Composition.open(config, logger, { migrate: false });
          await printStatus(root).finally(() => root.close());
          return;
        }
        if (kind !== 'all' && !isBridgeType(kind))
          throw new ConfigError('bridge', `unknown kind ${kind}; expected ${BRIDGE_TYPES.join(', ')}, all or status`);
        // Listened for before starting: a SIGTERM during start-up stops the bridges once started, gracefully.
        const signalled = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        const root = await Composition.open(config, logger);
        const bridges = await runConfiguredBridges(root, kind === 'all' ? BRIDGE_TYPES : [kind], logger);
        await signalled;
        logger.info('stopping bridges: finishing the messages in hand');
        await bridges.stop();
        await root.close();
      })(),
    );
}
