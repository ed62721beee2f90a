import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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
import { SourceCache } from '../tracking/source-cache.js';
import type { Tracker } from '../tracking/tracker.js';
import { queueResegment } from '../segmentation/job.js';
import { startSegmentationWorker } from '../segmentation/worker.js';
import type { Consumer } from '../queue/port.js';
import { SqlMembership, SqlSegments } from '../storage/sql-segments.js';
import { MappingCache } from '../mapping/cache.js';
import { resumeBackfills, startBackfill, startMappingWorkers, type BackfillDeps } from '../mapping/backfill.js';
import { SqlJobRuns } from '../storage/sql-job-runs.js';
import { SqlMappingBackfills } from '../storage/sql-mapping-backfill.js';
import { SqlMappings } from '../storage/sql-mappings.js';
import type { Logger } from '../shared/logger.js';
import { COMMIT_STEPS } from './commit-steps.js';
import { startWorkflowWorkers, trackerWithWorkflows, WORKFLOW_SWEEP_MS } from './workflow.js';
import { SqlFlows } from '../storage/sql-flows.js';
import { SqlRules } from '../storage/sql-rules.js';
import { SqlRunHistory } from '../storage/sql-run-history.js';
import { ACTIONS } from '../workflow/actions/index.js';
import { fetchHttpClient } from '../workflow/fetch-http.js';
import { ruleReferences } from '../workflow/rule.js';
import { RuleCache } from '../workflow/rule-cache.js';

/** DATA_DIR=:memory: keeps the embedded store in memory: nothing survives the process. */
const IN_MEMORY = ':memory:';

const pgliteDir = (config: Config) => (config.dataDir === IN_MEMORY ? undefined : join(config.dataDir, 'pgdata'));

/** Whether the embedded store has files to read (an in-memory one starts empty every time). */
export function embeddedStoreExists(config: Config): boolean {
  const dir = pgliteDir(config);
  return dir !== undefined && existsSync(dir);
}

/** PostgreSQL when DATABASE_URL is set, otherwise PGlite with its files under DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  const schema = schemaFor(config);
  if (config.databaseUrl)
    return connectPostgres({ url: config.databaseUrl, schema, maxConnections: config.databasePoolSize });
  return openPGlite({ dataDir: pgliteDir(config), schema });
}

/** BullMQ when REDIS_HOST is set, otherwise the in-process queue. */
export function openQueue(config: Config, logger: Logger): JobQueue {
  if (!config.redis) return new MemoryJobQueue({ logger });
  return new BullmqJobQueue({ redis: config.redis, prefix: config.queuePrefix, logger });
}

export function describeBackends(config: Config): { storage: string; queue: string } {
  return {
    storage: config.databaseUrl
      ? `PostgreSQL (schema ${schemaFor(config)})`
      : `PGlite in ${pgliteDir(config) ?? 'memory'}`,
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

/** Profiles per `segmentation:live` job. */
export const SEGMENTATION_BATCH = 25_000;

export interface WorkerOptions {
  concurrency: number;
  /** How often the segmentation worker re-segments profiles tracking changed. */
  pendingIntervalMs: number;
  /** How often the segmentation worker queues re-decisions that saves could not queue. */
  resegmentSweepMs: number;
  /** How often the workflow worker sweeps for runs left behind (default WORKFLOW_SWEEP_MS). */
  workflowSweepMs?: number;
}

/**
 * The workers `meridian worker` runs. `segmentation` is Tracardi's segmentation & mapping worker:
 * it consumes `segmentation:live`, `event_to_profile_coping:worker` and
 * `event_props_to_event_traits:worker`, and re-segments profiles that tracking changed. `workflow`
 * executes recorded workflow runs.
 */
export const WORKER_NAMES = ['segmentation', 'workflow'] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

export function backfillDeps(db: Database, queue: JobQueue, logger: Logger): BackfillDeps {
  return { mappings: new SqlMappings(db), backfills: new SqlMappingBackfills(db, COMMIT_STEPS), queue, logger };
}

/** Starts queue consumers in this process; `close` stops them, letting running jobs finish. */
export function startWorkers(
  db: Database,
  queue: JobQueue,
  logger: Logger,
  names: readonly WorkerName[],
  options: WorkerOptions,
  /** The process's configuration, and its tracker when it has one (raised events are tracked by it). */
  host: { config: Config; tracker?: Tracker },
): Consumer {
  const consumers: Consumer[] = [];
  for (const name of names) {
    const workerLogger = logger.child({ worker: name });
    if (name === 'segmentation') {
      consumers.push(
        startSegmentationWorker(
          { queue, segments: new SqlSegments(db), membership: new SqlMembership(db), logger: workerLogger },
          { ...options, pendingBatch: 500, resegmentBatch: SEGMENTATION_BATCH },
        ),
        startMappingWorkers(backfillDeps(db, queue, workerLogger), { concurrency: options.concurrency }),
      );
    }
    if (name === 'workflow') {
      consumers.push(
        startWorkflowWorkers(db, queue, workerLogger, host.config, {
          concurrency: options.concurrency,
          sweepIntervalMs: options.workflowSweepMs ?? WORKFLOW_SWEEP_MS,
          tracker: host.tracker,
        }),
      );
    }
  }
  return { close: async () => void (await Promise.all(consumers.map((consumer) => consumer.close()))) };
}

/**
 * Wires storage, queue and tracking into the HTTP API. `generateToken` is for the embedded start:
 * with no API_TOKEN set, a token is generated once and kept with the data.
 */
export interface StartApiOptions {
  /** Embedded start: with no API_TOKEN, generate one once and keep it with the data. */
  generateToken?: boolean;
  /** Queue consumers to run inside the API process (the in-process queue has no other consumer). */
  workers?: readonly WorkerName[];
  workerOptions?: WorkerOptions;
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  concurrency: 2,
  pendingIntervalMs: 1000,
  resegmentSweepMs: 10_000,
};

export async function startApi(config: Config, logger: Logger, options: StartApiOptions = {}): Promise<ApiRuntime> {
  const db = await openDatabase(config);
  const queue = openQueue(config, logger);
  try {
    await migrate(db);
    const apiToken =
      config.apiToken ??
      (options.generateToken
        ? await new SqlSettings(db).getOrInit('api_token', randomBytes(24).toString('base64url'))
        : undefined);
    const sources = new SqlEventSources(db);
    const segments = new SqlSegments(db);
    const membership = new SqlMembership(db);
    const sourceCache = new SourceCache(sources);
    const mappings = new SqlMappings(db);
    const mappingCache = new MappingCache(mappings);
    const backfills = backfillDeps(db, queue, logger);
    const flows = new SqlFlows(db);
    const rules = new SqlRules(db);
    // One instance for the admin API and the workflow follow-up, so a save is seen by the next /track.
    const ruleCache = new RuleCache(rules);
    const tracker = trackerWithWorkflows(db, queue, logger, config, {
      rules: ruleCache,
      sources: sourceCache,
      mappings: mappingCache,
      maxBatch: config.groupCommitMaxBatch,
      maxWaitMs: config.groupCommitMaxWaitMs,
      lanes: db.kind === 'pglite' ? 1 : config.commitLanes,
    });
    const app = await buildServer(
      {
        config: { ...config, apiToken },
        tracker,
        sources,
        sourceCache,
        readModel: new SqlReadModel(db),
        segmentation: {
          segments,
          resegment: (segmentId) =>
            queueResegment({ segments, membership, queue, logger }, segmentId, SEGMENTATION_BATCH),
        },
        mapping: {
          mappings,
          mappingCache,
          backfill: (mappingId, range) => startBackfill(backfills, mappingId, range),
          jobRuns: new SqlJobRuns(db),
        },
        workflow: {
          flows,
          rules,
          runs: new SqlRunHistory(db),
          references: ruleReferences({ flows, sources, segments }),
          ruleCache,
          actions: ACTIONS,
          http: fetchHttpClient,
        },
        health: { storage: async () => void (await db.query('SELECT 1')), queue: () => queue.ping() },
      },
      logger,
    );
    const workers = startWorkers(
      db,
      queue,
      logger,
      options.workers ?? [],
      options.workerOptions ?? DEFAULT_WORKER_OPTIONS,
      { config, tracker },
    );
    // The in-process queue forgets its jobs on exit: the backfills a restart interrupted go on.
    if (options.workers?.length && !config.redis) await resumeBackfills(backfills);
    return {
      app,
      db,
      queue,
      apiToken,
      close: async () => {
        await app.close();
        await workers.close();
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
