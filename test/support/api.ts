import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startApi, type ApiRuntime, type StartApiOptions } from '../../src/cli/composition.js';
import { createTestDatabase, postgresAvailable } from './postgres.js';

export const TEST_TOKEN = 'test-token';

export interface TestApi {
  runtime: ApiRuntime;
  app: FastifyInstance;
  sourceId: string;
  /** An admin request with the bearer token. */
  admin(options: InjectOptions): Promise<LightMyRequestResponse>;
  track(body: unknown): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export type Backend = 'pglite' | 'postgres';

/** Both storage adapters run the same HTTP tests; PostgreSQL gets a fresh database per call. */
export const BACKENDS: { name: Backend; available: () => Promise<boolean> }[] = [
  { name: 'pglite', available: async () => true },
  { name: 'postgres', available: postgresAvailable },
];

export async function startTestApi(
  backend: Backend,
  env: Record<string, string> = {},
  options: StartApiOptions = {},
): Promise<TestApi> {
  const database = backend === 'postgres' ? await createTestDatabase() : undefined;
  const config: Config = loadConfig({
    API_TOKEN: TEST_TOKEN,
    LOG_LEVEL: 'silent',
    DATA_DIR: ':memory:',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const runtime = await startApi(config, pino({ level: config.logLevel }), options);
  const admin = (options: InjectOptions) =>
    runtime.app.inject({ ...options, headers: { authorization: `Bearer ${TEST_TOKEN}`, ...options.headers } });
  const created = await admin({ method: 'POST', url: '/event-sources', payload: { name: 'test source' } });
  const sourceId = (created.json() as { id: string }).id;
  return {
    runtime,
    app: runtime.app,
    sourceId,
    admin,
    track: (body) => runtime.app.inject({ method: 'POST', url: '/track', payload: body as object }),
    close: async () => {
      await runtime.close();
      await database?.drop();
    },
  };
}
