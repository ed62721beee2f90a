import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { textArray } from './text-array.js';

describe('textArray', () => {
  const db = new PGlite();
  afterAll(() => db.close());

  it('reads back as the same elements in PostgreSQL, quotes, backslashes, NULL and empty strings included', async () => {
    const values = [
      'plain',
      'a "quoted" word',
      'back\\slash',
      '\\"',
      '',
      null,
      'NULL',
      '{"json": "text"}',
      'comma, brace }',
      'ünïcode ✓',
    ];
    const { rows } = await db.query<{ values: (string | null)[] }>('SELECT $1::text[] AS values', [textArray(values)]);
    expect(rows[0]!.values).toEqual(values);
  });

  it('makes an empty array of none', async () => {
    const { rows } = await db.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [textArray([])]);
    expect(rows[0]!.n).toBe(0);
  });
});
