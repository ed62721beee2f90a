import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../shared/logger.js';
import { Bridge, type BridgeCounters, type Collector } from './bridge.js';
import type { BridgeAdapter } from './port.js';
import { checkBridgeConfig, isBridgeType, type BridgeConfig, type BridgeType } from './source-config.js';

export interface BridgeSource {
  id: string;
  enabled: boolean;
  type: string;
  config: Record<string, unknown>;
}

export interface BridgeDeps {
  sources: { list(): Promise<BridgeSource[]> };
  collector: Collector;
  logger: Logger;
  openAdapter(config: BridgeConfig, logger: Logger): BridgeAdapter;
}

export interface RunningBridges {
  readonly bridges: readonly Bridge[];
  /** Settles once every bridge has started (or the bridges were stopped before it could). */
  readonly ready: Promise<void>;
  /** Stops taking messages, lets those in hand be stored and acknowledged, disconnects. */
  stop(): Promise<void>;
}

export interface RunOptions {
  /** How often each bridge logs its counters (`bridge stats`), when they changed; 0 never. */
  statsIntervalMs: number;
}

const MAX_START_DELAY_MS = 30_000;

/**
 * Serves every enabled event source of the given kinds, each through its own adapter. A broker that
 * is down at start is retried with backoff, without holding up the other bridges (or, in
 * `meridian start`, the API).
 */
export async function startBridges(
  deps: BridgeDeps,
  kinds: readonly BridgeType[],
  options: RunOptions,
): Promise<RunningBridges> {
  const bridges: Bridge[] = [];
  for (const source of await deps.sources.list()) {
    if (!source.enabled || !isBridgeType(source.type) || !kinds.includes(source.type)) continue;
    const logger = deps.logger.child({ bridge: source.type, source: source.id });
    let config: BridgeConfig;
    try {
      config = checkBridgeConfig(source.type, source.id, source.config);
    } catch (error) {
      logger.error({ err: error }, 'event source config is invalid: not served');
      continue;
    }
    bridges.push(new Bridge(source.id, config, deps.openAdapter(config, logger), deps.collector, logger));
  }
  const stopping = new AbortController();
  const starting = bridges.map(async (bridge) => {
    const logger = deps.logger.child({ bridge: bridge.config.type, source: bridge.sourceId });
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        await bridge.start();
        logger.info('bridge started');
        return;
      } catch (error) {
        const delay = Math.min(MAX_START_DELAY_MS, 500 * 2 ** attempt);
        logger.warn({ err: error, retryInMs: delay }, 'bridge could not start');
        await bridge.stop().catch(() => {});
        await sleep(delay, undefined, { signal: stopping.signal }).catch(() => {});
      }
    }
  });
  const logged = new Map<Bridge, string>();
  const logStats = () => {
    for (const bridge of bridges) {
      const text = JSON.stringify(bridge.counters);
      if (logged.get(bridge) === text) continue;
      logged.set(bridge, text);
      const counters: BridgeCounters = bridge.counters;
      deps.logger.info({ bridge: bridge.config.type, source: bridge.sourceId, ...counters }, 'bridge stats');
    }
  };
  const timer = options.statsIntervalMs > 0 ? setInterval(logStats, options.statsIntervalMs).unref() : undefined;
  if (bridges.length === 0) deps.logger.info({ kinds }, 'no enabled event source of these kinds');
  return {
    bridges,
    ready: Promise.all(starting).then(() => {}),
    stop: async () => {
      stopping.abort();
      clearInterval(timer);
      await Promise.all(starting);
      await Promise.all(bridges.map((bridge) => bridge.stop()));
      logStats();
    },
  };
}
