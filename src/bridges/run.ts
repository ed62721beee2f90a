import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../shared/logger.js';
import { Bridge, type BridgeCounters, type Collector } from './bridge.js';
import type { BridgeAdapter } from './port.js';
import { checkBridgeConfig, isBridgeType, type BridgeConfig, type BridgeType } from './source-config.js';
import { rateOf, type BridgeStatus, type BridgeStatusStore } from './status.js';

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
  /** Where this process publishes its bridges' status; without it, nowhere. */
  status?: BridgeStatusStore;
}

export interface RunOptions {
  /** How often each bridge logs its counters (`bridge stats`), when they changed; 0 never. */
  statsIntervalMs: number;
  /** How often the event sources are read again, to serve new, changed and disabled ones; 0 never. */
  refreshMs: number;
  /** How often the bridges' status is published (`deps.status`); 0 only at start and stop. */
  statusIntervalMs: number;
}

export interface RunningBridges {
  readonly bridges: readonly Bridge[];
  /** Settles once every bridge served now has started (or was stopped before it could). */
  ready(): Promise<void>;
  /** Reads the event sources and starts, restarts or stops bridges to match. */
  sync(): Promise<void>;
  /** Publishes the bridges' status now (it is also published every `statusIntervalMs`). */
  publishStatus(): Promise<void>;
  /** Stops taking messages, lets those in hand be stored and acknowledged, disconnects. */
  stop(): Promise<void>;
}

const MAX_START_DELAY_MS = 30_000;

interface Served {
  bridge: Bridge;
  /** The checked config as text: a source whose config changed is served anew. */
  fingerprint: string;
  retiring: AbortController;
  started: Promise<void>;
  logger: Logger;
}

class BridgeRunner implements RunningBridges {
  private readonly served = new Map<string, Served>();
  private readonly reportedInvalid = new Set<string>();
  private readonly logged = new Map<Bridge, string>();
  private syncing: Promise<void> = Promise.resolve();
  private readonly timers: NodeJS.Timeout[] = [];
  /** This process among those publishing bridge status. */
  private readonly processId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly lastReading = new Map<Bridge, { counters: BridgeCounters; at: number }>();

  constructor(
    private readonly deps: BridgeDeps,
    private readonly kinds: readonly BridgeType[],
    options: RunOptions,
  ) {
    const every = (ms: number, work: () => void) => {
      if (ms > 0) this.timers.push(setInterval(work, ms).unref());
    };
    every(options.statsIntervalMs, () => this.logStats());
    every(options.refreshMs, () => void this.sync().catch(() => {}));
    every(options.statusIntervalMs, () => void this.publishStatus());
  }

  get bridges(): Bridge[] {
    return [...this.served.values()].map((served) => served.bridge);
  }

  async ready(): Promise<void> {
    await Promise.all([...this.served.values()].map((served) => served.started));
  }

  sync(): Promise<void> {
    this.syncing = this.syncing.then(
      () => this.reconcile(),
      () => this.reconcile(),
    );
    return this.syncing;
  }

  private async reconcile(): Promise<void> {
    let sources: BridgeSource[];
    try {
      sources = await this.deps.sources.list();
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'event sources could not be read; bridges go on as they are');
      throw error;
    }
    const wanted = new Map<string, { config: BridgeConfig; fingerprint: string }>();
    for (const source of sources) {
      if (!source.enabled || !isBridgeType(source.type) || !this.kinds.includes(source.type)) continue;
      try {
        const config = checkBridgeConfig(source.type, source.id, source.config);
        wanted.set(source.id, { config, fingerprint: JSON.stringify(config) });
      } catch (error) {
        const key = `${source.id}\n${JSON.stringify(source.config)}`;
        if (this.reportedInvalid.has(key)) continue;
        this.reportedInvalid.add(key);
        this.deps.logger.error({ source: source.id, err: error }, 'event source config is invalid: not served');
      }
    }
    for (const [id, served] of this.served)
      if (wanted.get(id)?.fingerprint !== served.fingerprint) await this.retire(id, served);
    for (const [id, { config, fingerprint }] of wanted) if (!this.served.has(id)) this.serve(id, config, fingerprint);
  }

  /** Starts a bridge; a broker that is down is retried with backoff, holding up nothing else. */
  private serve(sourceId: string, config: BridgeConfig, fingerprint: string): void {
    const logger = this.deps.logger.child({ bridge: config.type, source: sourceId });
    const bridge = new Bridge(sourceId, config, this.deps.openAdapter(config, logger), this.deps.collector, logger);
    const retiring = new AbortController();
    const started = (async () => {
      for (let attempt = 0; !retiring.signal.aborted; attempt++) {
        try {
          await bridge.start();
          logger.info('bridge started');
          // Seen connected at once, not at the next beat.
          await this.publishStatus();
          return;
        } catch (error) {
          const delay = Math.min(MAX_START_DELAY_MS, 500 * 2 ** attempt);
          logger.warn({ err: error, retryInMs: delay }, 'bridge could not start');
          await bridge.stop().catch(() => {});
          await sleep(delay, undefined, { signal: retiring.signal }).catch(() => {});
        }
      }
    })();
    this.served.set(sourceId, { bridge, fingerprint, retiring, started, logger });
  }

  private async retire(sourceId: string, served: Served): Promise<void> {
    served.retiring.abort();
    await served.started;
    await served.bridge.stop();
    this.served.delete(sourceId);
    this.lastReading.delete(served.bridge);
    this.logStats([served.bridge]);
    served.logger.info('bridge stopped');
  }

  private logStats(bridges: readonly Bridge[] = this.bridges): void {
    for (const bridge of bridges) {
      const text = JSON.stringify(bridge.counters);
      if (this.logged.get(bridge) === text) continue;
      this.logged.set(bridge, text);
      const counters: BridgeCounters = bridge.counters;
      this.deps.logger.info({ bridge: bridge.config.type, source: bridge.sourceId, ...counters }, 'bridge stats');
    }
  }

  /** Rewrites this process's status rows; a store that is down is only logged (the next beat tries again). */
  async publishStatus(): Promise<void> {
    const store = this.deps.status;
    if (!store) return;
    const now = new Date();
    const rows = this.bridges.map((bridge): BridgeStatus => {
      const counters = { ...bridge.counters };
      const last = this.lastReading.get(bridge);
      this.lastReading.set(bridge, { counters, at: now.getTime() });
      return {
        processId: this.processId,
        host: hostname(),
        pid: process.pid,
        kind: bridge.config.type,
        sourceId: bridge.sourceId,
        state: bridge.state,
        ...counters,
        rate: rateOf(last?.counters, counters, now.getTime() - (last?.at ?? now.getTime())),
        lastError: bridge.lastError?.message ?? null,
        lastErrorAt: bridge.lastError?.at.toISOString() ?? null,
        startedAt: bridge.startedAt.toISOString(),
        heartbeatAt: now.toISOString(),
      };
    });
    await store
      .publish(this.processId, rows)
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'bridge status not published'));
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await this.syncing.catch(() => {});
    await Promise.all([...this.served].map(([id, served]) => this.retire(id, served)));
    await this.deps.status
      ?.remove(this.processId)
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'bridge status not removed'));
  }
}

/**
 * Serves every enabled event source of the given kinds, each through its own adapter, and follows
 * the sources as they are added, changed, disabled or deleted (every `refreshMs`).
 */
export async function startBridges(
  deps: BridgeDeps,
  kinds: readonly BridgeType[],
  options: RunOptions,
): Promise<RunningBridges> {
  const runner = new BridgeRunner(deps, kinds, options);
  await runner.sync();
  await runner.publishStatus();
  if (runner.bridges.length === 0) deps.logger.info({ kinds }, 'no enabled event source of these kinds yet');
  return runner;
}
