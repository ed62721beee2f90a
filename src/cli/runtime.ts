import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.js';
import { schemaFor, type Config } from '../config/config.js';
import { BullmqJobQueue } from '../queue/bullmq.js';
import { MemoryJobQueue } from '../queue/memory.js';
import type { JobQueue } from '../queue/port.js';
import type { Database } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import { openPGlite } from '../storage/pglite.js';
import { connectPostgres } from '../storage/postgres.js';
import { SqlEventSources } from '../storage/sql-event-sources.js';
import { SqlReadModel } from '../storage/sql-read-model.js';
import { SqlSettings } from '../storage/sql-settings.js';
import { SqlTrackingStore } from '../storage/sql-tracking-store.js';
import { SourceCache } from '../tracking/source-cache.js';
import { Tracker } from '../tracking/tracker.js';
import type { Logger } from '../shared/logger.js';

/** DATA_DIR=:memory: keeps the embedded store in memory: nothing survives the process. */
const IN_MEMORY = ':memory:';

const pgliteDir = (config: Config) => (config.dataDir === IN_MEMORY ? undefined : join(config.dataDir, 'pgdata'));

/** PostgreSQL when DATABASE_URL is set, otherwise PGlite with its files under DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  const schema = schemaFor(config);
  if (config.databaseUrl) return connectPostgres({ url: config.databaseUrl, schema });
  return openPGlite({ dataDir: pgliteDir(config), schema });
}

/** BullMQ when REDIS_HOST is set, otherwise the in-process queue. */
export function openQueue(config: Config, logger: Logger): JobQueue {
  if (!config.redis) return new MemoryJobQueue({ logger });
  return new BullmqJobQueue({ redis: config.redis, prefix: `meridian:${config.production ? 'prod' : 'test'}`, logger });
}

export function describeBackends(config: Config): { storage: string; queue: string } {
  return {
    storage: config.databaseUrl ? `PostgreSQL (schema ${schemaFor(config)})` : `PGlite in ${pgliteDir(config) ?? 'memory'}`,
    queue: config.redis ? `BullMQ on Redis ${config.redis.host}:${config.redis.port}` : 'in-process',
  };
}

export interface ApiRuntime {
  app: FastifyInstance;
  db: Database;
  queue: JobQueue;
  apiToken: string | undefined;
  close(): Promise<void>;
}

/**
 * Wires storage, queue and tracking into the HTTP API. `generateToken` is for the embedded start:
 * with no API_TOKEN set, a token is generated once and kept with the data.
 */
export async function startApi(config: Config, logger: Logger, options: { generateToken?: boolean } = {}): Promise<ApiRuntime> {
  const db = await openDatabase(config);
  const queue = openQueue(config, logger);
  try {
    await migrate(db);
    const apiToken =
      config.apiToken ?? (options.generateToken ? await new SqlSettings(db).getOrInit('api_token', randomBytes(24).toString('base64url')) : undefined);
    const sources = new SqlEventSources(db);
    const sourceCache = new SourceCache(sources);
    const tracker = new Tracker(new SqlTrackingStore(db), sourceCache, {
      maxBatch: config.groupCommitMaxBatch,
      maxWaitMs: config.groupCommitMaxWaitMs,
      concurrency: db.kind === 'pglite' ? 1 : 4,
    });
    const app = await buildServer(
      {
        config: { ...config, apiToken },
        tracker,
        sources,
        sourceCache,
        readModel: new SqlReadModel(db),
        health: { storage: async () => void (await db.query('SELECT 1')), queue: () => queue.ping() },
      },
      logger,
    );
    return {
      app,
      db,
      queue,
      apiToken,
      close: async () => {
        await app.close();
        await tracker.drain();
        await queue.close();
        await db.close();
      },
    };
  } catch (error) {
    await queue.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}
