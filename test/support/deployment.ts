import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { openDatabase } from '../../src/cli/composition.js';
import type { Database } from '../../src/storage/database.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from './processes.js';

/**
 * The two ways Meridian is deployed, as processes the tests can kill and start again on the same
 * store: `embedded` is `meridian start` on PGlite in a temporary DATA_DIR, `server` is `meridian api`
 * on a fresh PostgreSQL database (migrated first, as README says to).
 */
export type DeploymentMode = 'embedded' | 'server';

/** Both modes, each with whether this machine runs it: server mode needs PostgreSQL (skipped loudly). */
export async function deploymentModes(): Promise<{ mode: DeploymentMode; available: boolean }[]> {
  return [
    { mode: 'embedded', available: true },
    { mode: 'server', available: await postgresAvailable() },
  ];
}

export interface HttpAnswer {
  status: number;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
  contentType: string | null;
}

export interface Deployment {
  readonly mode: DeploymentMode;
  readonly token: string;
  /** The environment every process of this deployment runs with (store, token, queue). */
  readonly env: Record<string, string>;
  /** The running API process; replaced by each `start`. */
  readonly api: MeridianProcess;
  /** Where the running API listens; changes with each `start`. */
  readonly url: string;
  /** (Re)starts the API on the same store and waits until it is healthy. */
  start(): Promise<void>;
  /** Sends the API process a signal and, for a fatal one, waits until it is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
  /** An admin call with the bearer token. */
  admin(method: string, path: string, body?: unknown): Promise<HttpAnswer>;
  /** The store, opened as the CLI opens it; the embedded store only while the API is stopped. */
  openStore(): Promise<Database>;
  dispose(): Promise<void>;
}

export async function readAnswer(response: Response): Promise<HttpAnswer> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, contentType: response.headers.get('content-type') };
}

export async function createDeployment(
  mode: DeploymentMode,
  extraEnv: Record<string, string> = {},
): Promise<Deployment> {
  const token = `reliability-${mode}-token`;
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  const env: Record<string, string> = { API_TOKEN: token, ...extraEnv };
  if (mode === 'server') {
    database = await createTestDatabase();
    env['DATABASE_URL'] = database.url;
    const migration = runMeridian(['migrate'], env);
    if ((await migration.exited) !== 0) throw new Error(`meridian migrate failed:\n${migration.output()}`);
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'meridian-reliability-'));
    // The heartbeat's system events would only blur the counts these tests make.
    Object.assign(env, { DATA_DIR: dataDir, HEARTBEAT_INTERVAL_S: '0' });
  }

  let api: MeridianProcess | undefined;
  let url = '';
  const deployment: Deployment = {
    mode,
    token,
    env,
    get api() {
      if (!api) throw new Error('the API was never started');
      return api;
    },
    get url() {
      return url;
    },
    async start() {
      const port = await freePort();
      api = runMeridian([mode === 'server' ? 'api' : 'start'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
      url = `http://127.0.0.1:${port}`;
      // Generous: PGlite's first start creates its database, and the suite shares a busy machine.
      await waitForHealthy(url, api, 180_000);
    },
    async kill(signal) {
      if (!api || api.child.exitCode !== null || api.child.signalCode !== null) return;
      api.child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await api.exited;
    },
    async stop() {
      await api?.stop();
    },
    async admin(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return readAnswer(response);
    },
    async openStore() {
      if (mode === 'embedded' && api && api.child.exitCode === null && api.child.signalCode === null) {
        throw new Error('stop the embedded API before opening its store: PGlite has a single owner');
      }
      return openDatabase(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
    },
    async dispose() {
      if (api && api.child.exitCode === null && api.child.signalCode === null) await api.stop();
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return deployment;
}

/** Creates an event source through the admin API and returns its id. */
export async function createEventSource(deployment: Deployment, name: string): Promise<string> {
  const created = await deployment.admin('POST', '/event-sources', { name });
  if (created.status !== 201 && created.status !== 200)
    throw new Error(`could not create an event source: ${JSON.stringify(created)}`);
  return (created.body as { id: string }).id;
}
