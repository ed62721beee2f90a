import { randomUUID } from 'node:crypto';
import { Composition } from '../../src/cli/composition.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/shared/logger.js';
import type { FlowGraph } from '../../src/workflow/model.js';
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

/** A profile made by tracking one event, and an enabled collection flow of `graph` under a fresh id led by `prefix`. */
export async function profileAndFlow(
  root: Composition,
  prefix: string,
  graph: FlowGraph,
): Promise<{ profileId: string; flowId: string }> {
  const profileId = (
    await root
      .tracking()
      .tracker.collect({ source: { id: 'scheduler' }, events: [{ type: 'hello' }] }, { channel: 'scheduler' })
  ).profile.id;
  const flowId = `${prefix}-${randomUUID().slice(0, 8)}`;
  await root.repositories.flows.create({
    id: flowId,
    name: flowId,
    description: '',
    type: 'collection',
    enabled: true,
    answersClient: false,
    graph,
  });
  return { profileId, flowId };
}
