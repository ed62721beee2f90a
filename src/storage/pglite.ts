import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, Row, SqlExecutor } from './database.js';
import { quoteIdent, underSavepoint } from './database.js';
import { lockDirectory } from './dir-lock.js';
import { openDurablePGlite, type SyncFile } from './pglite-durability.js';

function executor(db: PGlite | Transaction): SqlExecutor {
  return {
    query: async <T extends Row>(text: string, params: readonly unknown[] = []) =>
      (await db.query<T>(text, params as unknown[])).rows,
    exec: async (script: string) => {
      await db.exec(script);
    },
  };
}

export interface PGliteOptions {
  /**
   * A folder for the data files, each commit synced to them before it returns; undefined keeps
   * everything in memory (tests).
   */
  dataDir?: string;
  schema: string;
  /** How a file is synced (fsync(2)); tests count the calls. */
  syncFile?: SyncFile;
}

export async function openPGlite({ dataDir, schema, syncFile }: PGliteOptions): Promise<Database> {
  if (dataDir) mkdirSync(dirname(dataDir), { recursive: true });
  const unlock = dataDir ? await lockDirectory(`${dataDir}.lock`, `the embedded store ${dataDir}`) : () => {};
  let db: PGlite;
  try {
    db = dataDir ? await openDurablePGlite(dataDir, syncFile) : await PGlite.create();
  } catch (error) {
    unlock();
    throw error;
  }
  // PGlite is one connection, so the search path is set once for its lifetime. The schema itself is
  // created by migrate, as on PostgreSQL: opening a store (for a dry run, say) changes nothing in it.
  await db.exec(`SET search_path TO ${quoteIdent(schema)}, public;`);
  const base = executor(db);
  return {
    kind: 'pglite',
    schema,
    ...base,
    transaction: (work) =>
      db.transaction((tx) => {
        const inTransaction = executor(tx);
        return work({ ...inTransaction, savepoint: (inner) => underSavepoint(inTransaction, inner) });
      }),
    close: async () => {
      await db.close();
      unlock();
    },
  };
}
