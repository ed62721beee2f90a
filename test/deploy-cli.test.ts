import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { openPGlite } from '../src/storage/pglite.js';
import { runMeridian } from './support/processes.js';

/** `meridian deploy` on the embedded store, as an operator runs it: the compiled CLI (`npm run build` first). */
async function deploy(dataDir: string, args: string[] = []) {
  const process = runMeridian(['deploy', ...args], { DATA_DIR: dataDir });
  const code = await process.exited;
  return { code, output: process.output() };
}

/** The embedded store of `dataDir` (test context), while no Meridian process holds it. */
async function withStore<T>(dataDir: string, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openPGlite({ dataDir: join(dataDir, 'pgdata'), schema: 'meridian_test' });
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

const production = (db: Database): Database => ({ ...db, schema: 'meridian_prod' });

const versions = (dataDir: string) =>
  withStore(dataDir, (db) =>
    db.query(
      `SELECT (SELECT max(version) FROM meridian_test.schema_migrations) AS test,
              (SELECT max(version) FROM meridian_prod.schema_migrations) AS prod`,
    ),
  );

describe('meridian deploy', () => {
  it('refuses on an embedded DATA_DIR that does not exist, and creates nothing', async () => {
    const dataDir = join(tmpdir(), `meridian-absent-${process.pid}-${Date.now()}`);
    const { code, output } = await deploy(dataDir, ['--dry-run']);
    expect(output).toContain(`no embedded store in ${dataDir}`);
    expect(code).toBe(1);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('migrates neither context: behind this version it says so and leaves both as they were', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meridian-deploy-'));
    try {
      const all = loadMigrations();
      const previous = all.slice(0, -1);
      const behind = previous.at(-1)!.version;
      await withStore(dataDir, async (db) => {
        await migrate(db, previous);
        await migrate(production(db), previous);
      });
      for (const args of [['--dry-run'], []]) {
        const { code, output } = await deploy(dataDir, args);
        expect(output).toMatch(
          /run `PRODUCTION=yes meridian migrate` and `PRODUCTION=no meridian migrate` first; .* stop `meridian start` first/,
        );
        expect(code).toBe(1);
      }
      expect(await versions(dataDir)).toEqual([{ test: behind, prod: behind }]);

      await withStore(dataDir, async (db) => {
        await migrate(db);
        await migrate(production(db));
        await db.query(`INSERT INTO segments (id, name, machine_name, condition) VALUES ('vip', 'VIP', 'vip', 'true')`);
      });
      const dry = await deploy(dataDir, ['--dry-run']);
      expect(dry.output).toMatch(/^create +segments +vip \(VIP\)$/m);
      expect(dry.output).toMatch(/meridian_test → meridian_prod: would create 1, /);
      expect(dry.code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
