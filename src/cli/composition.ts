/**
 * The composition root: the one module that turns a Config into adapters (database, job queue),
 * repositories and services. Every role opens a Composition, takes what it needs and closes it;
 * no other module constructs an adapter.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.js';
import { schemaFor, type Config } from '../config/config.js';
import type { HeartbeatServices } from '../heartbeat/job.js';
import type { HeartbeatStore } from '../heartbeat/ports.js';
import { resumeBackfills, startBackfill, type BackfillDeps } from '../mapping/backfill.js';
import { MappingCache } from '../mapping/cache.js';
import type { BackfillStore, MappingRepository } from '../mapping/ports.js';
import type { ImportStore } from '../importing/ports.js';
import { jobRunFigures, progressOf } from '../importing/progress.js';
import {
  controlRun,
  deleteImport,
  resumeImportRuns,
  startImportRun,
  type ImportServices,
} from '../importing/runner.js';
import { SecretBox } from '../importing/secrets.js';
import { readerFor, unreadableFile } from '../importing/sources.js';
import type { RedirectRepository } from '../bridges/redirect.js';
import { viewOf, type BridgeStatusStore } from '../bridges/status.js';
import { BullmqJobQueue } from '../queue/bullmq.js';
import { MemoryJobQueue } from '../queue/memory.js';
import type { Consumer, JobQueue } from '../queue/port.js';
import { queueResegment, SEGMENTATION_BATCH } from '../segmentation/job.js';
import type { MembershipStore, SegmentRepository } from '../segmentation/ports.js';
import type { JobRun, JobRunRepository } from '../shared/job-runs.js';
import type { Logger } from '../shared/logger.js';
import type { Database } from '../storage/database.js';
import { migrate, type MigrationReport } from '../storage/migrate.js';
import { openPGlite } from '../storage/pglite.js';
import { connectPostgres } from '../storage/postgres.js';
import { SqlEventSources } from '../storage/sql-event-sources.js';
import { SqlImportRecords } from '../storage/sql-import-records.js';
import { SqlImports } from '../storage/sql-imports.js';
import { SqlDeploy } from '../storage/sql-deploy.js';
import {
  DATA_MIGRATION_BATCH,
  planDataMigrations,
  runDataMigrations,
  type DataMigration,
} from '../storage/data-migrations.js';
import { identityKeysMigration } from '../storage/identity-keys-migration.js';
import { SqlRedirects } from '../storage/sql-redirects.js';
import { SqlBridgeStatus } from '../storage/sql-bridge-status.js';
import { SqlHeartbeatStore } from '../storage/sql-heartbeat.js';
import { SqlJobRuns } from '../storage/sql-job-runs.js';
import { SqlMappingBackfills } from '../storage/sql-mapping-backfill.js';
import { SqlMappings } from '../storage/sql-mappings.js';
import { SqlReadModel } from '../storage/sql-read-model.js';
import { SqlScheduled } from '../storage/sql-scheduled.js';
import type { ScheduledStore } from '../scheduler/ports.js';
import { wakeScheduler } from '../scheduler/worker.js';
import { SqlMembership, SqlSegments } from '../storage/sql-segments.js';
import { SqlSettings } from '../storage/sql-settings.js';
import { SqlTrackingStore } from '../storage/sql-tracking-store.js';
import { SqlTriggers } from '../storage/sql-triggers.js';
import { SqlFlows } from '../storage/sql-flows.js';
import { SqlRules } from '../storage/sql-rules.js';
import { SqlRunHistory } from '../storage/sql-run-history.js';
import { ACTIONS } from '../workflow/actions/index.js';
import { fetchHttpClient } from '../workflow/fetch-http.js';
import { InlineFlows } from '../workflow/inline.js';
import type { FlowRepository, RuleRepository, RunHistory } from '../workflow/ports.js';
import { ruleReferences } from '../workflow/rule.js';
import { RuleCache } from '../workflow/rule-cache.js';
import { runFlow } from '../workflow/engine.js';
import { DEFAULT_EXECUTOR_SETTINGS, type WorkflowExecution, type WorkflowRunStore } from '../workflow/executor.js';
import { WorkflowFollowUp } from '../workflow/follow-up.js';
import type { SegmentationRunStore } from '../workflow/segmentation.js';
import { SqlWorkflowRuns, workflowRulesState } from '../storage/sql-workflow-runs.js';
import { TrackCommit } from '../tracking/commit.js';
import { HistoryCommit } from '../tracking/history-commit.js';
import { commitSteps } from './commit-steps.js';
import { Identity, PointCache } from '../identity/identity.js';
import type { IdentificationPointRepository } from '../identity/ports.js';
import { SqlIdentificationPoints, SqlIdentityStore } from '../storage/sql-identity.js';
import type { CommitStep } from '../tracking/commit-steps.js';
import type { SqlExecutor } from '../storage/database.js';
import type { EventSourceRepository, TrackingReadModel } from '../tracking/ports.js';
import { SourceCache } from '../tracking/source-cache.js';
import { Tracker, type CollectOrigin } from '../tracking/tracker.js';
import type { TriggerStore } from '../triggers/ports.js';
import { DEFAULT_WORKER_OPTIONS, selectWorkers, startWorkers, type Worker, type WorkerOptions } from './workers.js';

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
function openQueue(config: Config, logger: Logger): JobQueue {
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

/** The store's repositories, each behind its capability's port. */
export interface Repositories {
  sources: EventSourceRepository;
  redirects: RedirectRepository;
  bridgeStatus: BridgeStatusStore;
  settings: SqlSettings;
  readModel: TrackingReadModel;
  segments: SegmentRepository;
  membership: MembershipStore;
  mappings: MappingRepository;
  backfills: BackfillStore;
  jobRuns: JobRunRepository;
  heartbeat: HeartbeatStore;
  triggers: TriggerStore;
  scheduled: ScheduledStore;
  flows: FlowRepository;
  rules: RuleRepository;
  runHistory: RunHistory;
  workflowRuns: WorkflowRunStore;
  segmentationRuns: SegmentationRunStore;
  imports: ImportStore;
  identificationPoints: IdentificationPointRepository;
}

/** The engine with the built-in actions and the real HTTP client. */
const runWithActions: WorkflowExecution['runFlow'] = (flow, context, resume) =>
  runFlow(flow, context, { actions: ACTIONS, http: fetchHttpClient, ...(resume ? { resume } : {}) });

function repositoriesOf(
  db: Database,
  steps: readonly CommitStep<SqlExecutor>[],
  identity: Identity<SqlExecutor>,
): Repositories {
  const workflowRuns = new SqlWorkflowRuns(db, steps, {
    mergeByKeys: (tx, profileId, keys) => identity.mergeByKeys(tx, profileId, keys),
    holdsKeys: (profile) => identity.holdsKeys(profile),
  });
  return {
    sources: new SqlEventSources(db),
    redirects: new SqlRedirects(db),
    bridgeStatus: new SqlBridgeStatus(db),
    settings: new SqlSettings(db),
    readModel: new SqlReadModel(db),
    segments: new SqlSegments(db),
    membership: new SqlMembership(db),
    mappings: new SqlMappings(db),
    backfills: new SqlMappingBackfills(db, steps),
    jobRuns: new SqlJobRuns(db),
    heartbeat: new SqlHeartbeatStore(db, steps),
    triggers: new SqlTriggers(db),
    scheduled: new SqlScheduled(db),
    flows: new SqlFlows(db),
    rules: new SqlRules(db),
    runHistory: new SqlRunHistory(db),
    workflowRuns,
    segmentationRuns: workflowRuns,
    imports: new SqlImports(db),
    identificationPoints: new SqlIdentificationPoints(db),
  };
}

export interface Tracking {
  tracker: Tracker;
  /** Imports' commit of events (tracking/history-commit.ts), which hands what it cannot take to the tracker's. */
  historyCommit: HistoryCommit<SqlExecutor>;
  sourceCache: SourceCache;
  mappingCache: MappingCache;
}

/** What one role process is built from; `close` releases what was opened, last opened first. */
export class Composition {
  readonly repositories: Repositories;
  /**
   * Identity keys, identification points and merges. The workflow executor applies a flow's merge
   * effect with `identity.mergeByKeys(tx, profileId, keys)` inside its own transaction.
   */
  readonly identity: Identity<SqlExecutor>;
  readonly pointCache: PointCache;
  private readonly steps: readonly CommitStep<SqlExecutor>[];
  private openedQueue: JobQueue | undefined;
  private openedRuleCache: RuleCache | undefined;
  private openedTracking: Tracking | undefined;
  private readonly parts: Consumer[] = [];
  private importing: ImportServices | undefined;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly db: Database,
  ) {
    this.pointCache = new PointCache();
    this.identity = new Identity(new SqlIdentityStore(db), config.identity, this.pointCache);
    this.steps = commitSteps(this.identity.commitStep());
    this.repositories = repositoriesOf(db, this.steps, this.identity);
  }

  /** Opens the store and applies pending migrations, unless told not to (a dry run changes nothing). */
  static async open(config: Config, logger: Logger, options: { migrate?: boolean } = {}): Promise<Composition> {
    const root = new Composition(config, logger, await openDatabase(config));
    if (options.migrate === false) return root;
    try {
      await root.migrate();
    } catch (error) {
      await root.close();
      throw error;
    }
    return root;
  }

  migrate(): Promise<MigrationReport> {
    return migrate(this.db);
  }

  /** The job queue, opened on first use: a role that never queues never connects to Redis. */
  get queue(): JobQueue {
    this.openedQueue ??= openQueue(this.config, this.logger);
    return this.openedQueue;
  }

  /** A part of the role (a worker, a tracker) that must stop before the queue and the store close. */
  private own<T extends Consumer>(part: T): T {
    this.parts.push(part);
    return part;
  }

  /** One per process, shared by the admin API and the commit step, so a save is seen by the next commit. */
  get ruleCache(): RuleCache {
    this.openedRuleCache ??= new RuleCache(this.repositories.rules);
    return this.openedRuleCache;
  }

  backfillDeps(logger: Logger = this.logger): BackfillDeps {
    const { mappings, backfills } = this.repositories;
    return { mappings, backfills, queue: this.queue, logger };
  }

  heartbeatServices(logger: Logger = this.logger): HeartbeatServices {
    return {
      store: this.repositories.heartbeat,
      logger,
      settleTouches: () => this.tracking().historyCommit.settle(),
    };
  }

  /**
   * The collect pipeline: the tracking store, the Tracker over it and the caches it reads, made once
   * per process. Its commits are followed by the workflow runs they recorded. The Tracker commits
   * what is pending before the store closes.
   */
  tracking(): Tracking {
    if (!this.openedTracking) {
      const sourceCache = new SourceCache(this.repositories.sources);
      const mappingCache = new MappingCache(this.repositories.mappings);
      const store = new SqlTrackingStore(this.db);
      const flows = new InlineFlows({
        rules: this.ruleCache,
        actions: ACTIONS,
        state: workflowRulesState,
        holdsKeys: (profile) => this.identity.holdsKeys(profile),
        logger: this.logger.child({ capability: 'workflow' }),
      });
      const commit = new TrackCommit(store, this.steps, flows);
      const lanes = this.db.kind === 'pglite' ? 1 : this.config.commitLanes;
      const tracker = new Tracker(commit, sourceCache, mappingCache, {
        maxBatch: this.config.groupCommitMaxBatch,
        maxWaitMs: this.config.groupCommitMaxWaitMs,
        lanes,
        followUp: new WorkflowFollowUp({
          ...this.workflowExecution(),
          logger: this.logger.child({ capability: 'workflow' }),
          rules: this.ruleCache,
          queue: this.queue,
        }),
      });
      this.own({ close: () => tracker.drain() });
      this.openedTracking = {
        tracker,
        sourceCache,
        mappingCache,
        historyCommit: new HistoryCommit(store, this.steps, commit, flows, lanes),
      };
    }
    return this.openedTracking;
  }

  /** How workflow runs are executed: the engine with its actions, and the tracker raised events go through. */
  private workflowExecution(): WorkflowExecution {
    return {
      runs: this.repositories.workflowRuns,
      runFlow: runWithActions,
      raise: (payload) => this.openedTracking!.tracker.collect(payload, { channel: 'workflow' }),
      settings: { ...DEFAULT_EXECUTOR_SETTINGS, leaseMs: this.config.workflowClaimMs },
    };
  }

  /**
   * What import runs need: the collect entry (this role's Tracker, or one made on first use), the
   * source readers, and the box for credentials, keyed by IMPORT_SECRET_KEY or a key kept with the data.
   */
  importServices(): ImportServices {
    let box: Promise<SecretBox> | undefined;
    this.importing ??= {
      collector: {
        // A row names its person by the mapped value: a profile unknown by it is created with it, as a
        // profiles import creates one, so that every import naming that person finds the same profile.
        check: (payloads, origin) => this.tracking().tracker.checkAll(payloads, origin, { staticProfileId: true }),
        commit: (checked) => {
          const { tracker, historyCommit } = this.tracking();
          return tracker.commitChecked(checked, historyCommit);
        },
        checkAppend: (sourceId, type, events, origin) =>
          this.tracking().tracker.checkAppend(sourceId, type, events, origin),
        append: (checked) => {
          const { tracker, historyCommit } = this.tracking();
          return tracker.appendChecked(checked, historyCommit);
        },
        settle: () => this.tracking().historyCommit.settle(),
      },
      records: new SqlImportRecords(
        this.db,
        this.steps,
        this.config.identity,
        this.db.kind === 'pglite' ? 1 : this.config.commitLanes,
      ),
      readers: readerFor,
      identity: this.config.identity,
      leaseMs: this.config.importLeaseMs,
      secrets: () =>
        (box ??= (async () =>
          new SecretBox(
            this.config.importSecretKey ??
              (await this.repositories.settings.getOrInit('import_secret_key', SecretBox.generateKey())),
          ))()),
    };
    return this.importing;
  }

  /** Deploy from the test context to production; both schemas live in the database this root opened. */
  deployer(): SqlDeploy {
    return new SqlDeploy(this.db, {
      from: schemaFor({ production: false }),
      to: schemaFor({ production: true }),
      secretKey: this.config.importSecretKey,
    });
  }

  /** The data migrations planned and run after the schema's. */
  dataMigrations(): DataMigration[] {
    return [identityKeysMigration(this.config.identity)];
  }

  /**
   * Plans the data migrations never planned, then, unless `planOnly`, works through every one not done
   * (runDataMigrations), telling their progress after each batch to `onBatch`, by default a log line
   * every 10 batches; stopped by `signal` after its current batch.
   */
  async migrateData(
    options: { planOnly?: boolean; signal?: AbortSignal; onBatch?: (run: JobRun) => void } = {},
  ): Promise<void> {
    const migrations = this.dataMigrations();
    // A run with nothing to rewrite (a new store's) is done as planned: nothing to tell.
    for (const run of await planDataMigrations(this.db, migrations, DATA_MIGRATION_BATCH))
      if (run.batches > 0)
        this.logger.info({ job: run.id, rows: run.total, batches: run.batches }, 'data migration planned');
    if (options.planOnly) return;
    const waited = new Set<string>();
    await runDataMigrations(this.db, migrations, {
      ...(options.signal ? { signal: options.signal } : {}),
      onBatch:
        options.onBatch ??
        ((run) => {
          if (run.batchesDone === run.batches || run.batchesDone % 10 === 0) {
            const { rowsPerSecond, etaSeconds } = progressOf(jobRunFigures(run));
            this.logger.info(
              {
                job: run.id,
                done: run.done,
                total: run.total,
                batches: `${run.batchesDone}/${run.batches}`,
                rowsPerSecond,
                etaSeconds,
              },
              'data migration',
            );
          }
        }),
      onWait: (run) => {
        if (!waited.has(run.id)) this.logger.info({ job: run.id }, 'data migration running in another process');
        waited.add(run.id);
      },
    });
  }

  /**
   * Runs migrateData in the background until the root closes: every process that holds the store
   * does, so an upgrade's data migrations run whichever roles are started. One process at a time works
   * through a run; the others stand by to take it over should it be killed. A failure is logged; the
   * next start (or `meridian migrate`) tries again from the failed batch.
   */
  startDataMigrations(): void {
    const stop = new AbortController();
    const running = this.migrateData({ signal: stop.signal }).catch((error: unknown) =>
      this.logger.error({ err: error }, 'data migration failed'),
    );
    this.own({
      close: async () => {
        stop.abort();
        await running;
      },
    });
  }

  /**
   * Starts workers in this process; they stop when the root closes, or before, when the result is
   * closed. The scheduler's settings default to the configuration's.
   */
  startWorkers(
    workers: readonly Worker[],
    options: Omit<WorkerOptions, 'scheduler'> & Partial<WorkerOptions>,
  ): Consumer {
    // Made before the workers, so that it closes after them: the workflow worker tracks the events its
    // flows raise, the scheduler the events it runs, imports their rows.
    const { tracker } = this.tracking();
    const deps = {
      ...this.repositories,
      importing: this.importServices(),
      identity: this.identity,
      queue: this.queue,
      logger: this.logger,
      workflow: this.workflowExecution(),
      collect: (payload: Record<string, unknown>, origin: CollectOrigin) => tracker.collect(payload, origin),
    };
    return this.own(startWorkers(workers, deps, { scheduler: this.config.scheduler, ...options }));
  }

  async close(): Promise<void> {
    for (const part of this.parts.splice(0).reverse()) await part.close();
    await this.openedQueue?.close();
    await this.db.close();
  }
}

export interface ApiRuntime {
  app: FastifyInstance;
  root: Composition;
  db: Database;
  queue: JobQueue;
  apiToken: string | undefined;
  close(): Promise<void>;
}

export interface StartApiOptions {
  /** Embedded start: with no API_TOKEN, generate one once and keep it with the data. */
  generateToken?: boolean;
  /** Workers to run inside the API process by name (the in-process queue has no other consumer). */
  workers?: readonly string[];
  workerOptions?: Omit<WorkerOptions, 'scheduler'> & Partial<WorkerOptions>;
  /** Apply pending migrations first (default); a process forked after its primary applied them skips it. */
  migrate?: boolean;
  /**
   * Without Redis, requeue the backfills and import runs a restart interrupted (default). Of several
   * API processes on one store only the first does: requeueing takes over runs another process may
   * have claimed already.
   */
  resumeInterruptedRuns?: boolean;
}

/** The HTTP API over storage, queue and tracking, with the workers asked for. */
export async function startApi(config: Config, logger: Logger, options: StartApiOptions = {}): Promise<ApiRuntime> {
  const root = await Composition.open(config, logger, { migrate: options.migrate });
  try {
    const { repositories } = root;
    const { segments, membership, mappings } = repositories;
    const apiToken =
      config.apiToken ??
      (options.generateToken
        ? await repositories.settings.getOrInit('api_token', randomBytes(24).toString('base64url'))
        : undefined);
    const { tracker, sourceCache, mappingCache } = root.tracking();
    const backfills = root.backfillDeps();
    const queue = root.queue;
    const app = await buildServer(
      {
        config: {
          apiToken,
          maxPayloadBytes: config.maxPayloadBytes,
          corsOrigins: config.corsOrigins,
          adminCorsOrigins: config.adminCorsOrigins,
          segmentChangesRetentionDays: config.segmentChangesRetentionDays,
        },
        tracker,
        sources: repositories.sources,
        redirects: repositories.redirects,
        sourceCache,
        readModel: repositories.readModel,
        segmentation: {
          segments,
          resegment: (segmentId) =>
            queueResegment({ segments, membership, queue, logger }, segmentId, SEGMENTATION_BATCH),
        },
        mapping: {
          mappings,
          mappingCache,
          backfill: (mappingId, range) => startBackfill(backfills, mappingId, range),
          jobRuns: repositories.jobRuns,
        },
        triggers: repositories.triggers,
        scheduler: {
          scheduled: repositories.scheduled,
          wake: (items, now) => wakeScheduler({ queue, logger }, items, now),
          profileExists: async (id) => (await repositories.readModel.profile(id)) !== undefined,
        },
        workflow: {
          flows: repositories.flows,
          rules: repositories.rules,
          runs: repositories.runHistory,
          references: ruleReferences({ flows: repositories.flows, sources: repositories.sources, segments }),
          ruleCache: root.ruleCache,
          actions: ACTIONS,
          http: fetchHttpClient,
        },
        importing: {
          imports: repositories.imports,
          start: (importId) => startImportRun({ imports: repositories.imports, queue }, importId),
          delete: (importId) => deleteImport(repositories.imports, importId),
          control: (runId, action) => controlRun({ imports: repositories.imports, queue }, runId, action),
          seal: async (secret) => (await root.importServices().secrets()).seal(secret),
          sources: repositories.sources,
          // Without Redis this process runs the imports: the files it cannot read, no run of it can.
          ...(config.redis ? {} : { unreadableFile }),
        },
        deployer: root.deployer(),
        identity: {
          identity: root.identity,
          points: repositories.identificationPoints,
          pointCache: root.pointCache,
        },
        health: {
          storage: async () => void (await root.db.query('SELECT 1')),
          queue: () => queue.ping(),
          bridges: async () => {
            const now = new Date();
            return (await repositories.bridgeStatus.list()).map((row) => viewOf(row, now));
          },
        },
      },
      logger,
    );
    const workers = options.workers ?? [];
    if (workers.length > 0) {
      root.startWorkers(selectWorkers(workers), options.workerOptions ?? DEFAULT_WORKER_OPTIONS);
      // The in-process queue forgets its jobs on exit: the backfills a restart interrupted go on.
      if (!config.redis && options.resumeInterruptedRuns !== false) {
        await resumeBackfills(backfills);
        await resumeImportRuns({ imports: repositories.imports, queue, logger });
      }
    }
    root.startDataMigrations();
    return {
      app,
      root,
      db: root.db,
      queue,
      apiToken,
      close: async () => {
        await app.close();
        await root.close();
      },
    };
  } catch (error) {
    await root.close().catch(() => {});
    throw error;
  }
}
