import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SQL_MAPPING } from '../condition/index.js';
import type { Database } from './database.js';
import { migrate } from './migrate.js';
import { openPGlite } from './pglite.js';

/** The condition compiler reads Meridian's tables through DEFAULT_SQL_MAPPING: it must match the migrations. */
describe('condition SQL mapping against the migrated schema', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openPGlite({ schema: 'meridian_test' });
    await migrate(db);
  });
  afterAll(async () => db?.close());

  const SQL_TYPES: Record<string, string> = {
    jsonb: 'jsonb',
    text: 'text',
    'text[]': 'ARRAY',
    boolean: 'boolean',
    integer: 'integer',
    timestamptz: 'timestamp with time zone',
  };

  for (const [source, table] of Object.entries(DEFAULT_SQL_MAPPING)) {
    it(`maps ${source}@ onto columns that exist with the mapped types`, async () => {
      const columns = await db.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'meridian_test' AND table_name = $1`,
        [table!.table],
      );
      const actual = new Map(columns.map((column) => [column.column_name, column.data_type]));
      for (const column of table!.columns) {
        expect({ column: column.column, type: actual.get(column.column) }).toEqual({
          column: column.column,
          type: SQL_TYPES[column.type],
        });
      }
    });
  }
});
