import { Composition } from '../../src/cli/composition.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Backend } from './api.js';
import { createTestDatabase, postgresAvailable } from './postgres.js';

/** The two stores a composition-level test runs on; PostgreSQL only where its server answers. */
export const compositionBackends = async (): Promise<{ name: Backend; available: boolean }[]> => [
  { name: 'pglite', available: true },
  { name: 'postgres', available: await postgresAvailable() },
];

/** The whole composition root, silent, on PGlite in memory or a fresh PostgreSQL database dropped on dispose. */
export async function openTestComposition(
  backend: Backend,
): Promise<{ root: Composition; dispose: () => Promise<void> }> {
  const logger = createLogger('silent');
  if (backend === 'pglite') {
    const root = await Composition.open(loadConfig({ DATA_DIR: ':memory:', LOG_LEVEL: 'silent' }), logger);
    return { root, dispose: () => root.close() };
  }
  const database = await createTestDatabase();
  const root = await Composition.open(loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' }), logger);
  return {
    root,
    dispose: async () => {
      await root.close();
      await database.drop();
    },
  };
}
