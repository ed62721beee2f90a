import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.js';
import { quoteIdent } from './database.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => ({ file, match: FILE_NAME.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({ version: Number(match[1]), name: match[2]!, sql: readFileSync(dir + file, 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

export interface MigrationReport {
  applied: Migration[];
  alreadyApplied: number;
}

/**
 * Applies pending migrations, each in its own transaction under an advisory lock scoped to the
 * schema, so concurrent runs queue behind each other and an interrupted run resumes where it stopped.
 */
export async function migrate(db: Database, migrations = loadMigrations()): Promise<MigrationReport> {
  const schema = quoteIdent(db.schema);
  const lockKey = `meridian:migrate:${db.schema}`;
  const applied: Migration[] = [];
  for (const migration of migrations) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
      await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await tx.query(`SET LOCAL search_path TO ${schema}, public`);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (done.length > 0) return false;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (didApply) applied.push(migration);
  }
  return { applied, alreadyApplied: migrations.length - applied.length };
}

/** Migrations this version has that the store has not applied; reads only (no schema is created). */
export async function pendingMigrations(db: Database, migrations = loadMigrations()): Promise<Migration[]> {
  const [table] = await db.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    `${quoteIdent(db.schema)}.schema_migrations`,
  ]);
  if (!table?.present) return migrations;
  const rows = await db.query<{ version: number }>(`SELECT version FROM ${quoteIdent(db.schema)}.schema_migrations`);
  const applied = new Set(rows.map((row) => row.version));
  return migrations.filter((migration) => !applied.has(migration.version));
}
