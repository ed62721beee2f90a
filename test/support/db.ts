import { loadMigrations, migrate, type Migration } from '../../src/storage/migrate.js';
import type { Database } from '../../src/storage/database.js';
import { openPGlite } from '../../src/storage/pglite.js';
import { connectPostgres } from '../../src/storage/postgres.js';
import type { Backend } from './api.js';
import { createTestDatabase } from './postgres.js';

/**
 * A migrated store on either adapter: PGlite in memory, or a fresh PostgreSQL database. `migrations`
 * stops short of the latest schema, for tests of an upgrade.
 */
export async function openTestDatabase(
  backend: Backend,
  schema = 'meridian_test',
  migrations: Migration[] = loadMigrations(),
): Promise<Database & { dispose(): Promise<void> }> {
  if (backend === 'pglite') {
    const db = await openPGlite({ schema });
    await migrate(db, migrations);
    return Object.assign(db, { dispose: () => db.close() });
  }
  const database = await createTestDatabase();
  const db = connectPostgres({ url: database.url, schema });
  await migrate(db, migrations);
  return Object.assign(db, {
    dispose: async () => {
      await db.close();
      await database.drop();
    },
  });
}
