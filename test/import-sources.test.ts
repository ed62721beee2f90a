/**
 * The database readers over 100k rows: MariaDB (127.0.0.1:3306, root, database `test`) paged by key,
 * PostgreSQL through a cursor; each row once, in key order, and from a checkpoint only what follows it.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseSource } from '../src/importing/model.js';
import { readerFor, type Checkpoint } from '../src/importing/sources.js';
import { POSTGRES_ADMIN_URL, postgresAvailable } from './support/postgres.js';
import { serviceAvailable } from './support/services.js';

const ROWS = 100_000;
const table = `meridian_keyset_${randomBytes(4).toString('hex')}`;

async function readKeys(source: DatabaseSource, after?: Checkpoint) {
  const keys: number[] = [];
  let batches = 0;
  let last: { checkpoint: Checkpoint; position: number } | undefined;
  for await (const batch of readerFor(source, undefined).read(after, 7000)) {
    batches++;
    for (const item of batch.items) keys.push(Number('row' in item ? item.row['id'] : Number.NaN));
    last = batch;
  }
  return { keys, batches, last };
}

const ascendingOnce = (keys: number[]) => keys.every((key, index) => index === 0 || key > keys[index - 1]!);

describe.each([
  {
    kind: 'mysql' as const,
    available: () =>
      serviceAvailable('MariaDB', async () => {
        await (await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' })).end();
      }),
    source: { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' },
    setUp: async () => {
      const connection = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
      await connection.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, label VARCHAR(20))`);
      // Keys with gaps, inserted out of order: pages go by key, not by position.
      await connection.query(
        `INSERT INTO ${table} SELECT seq * 3, CONCAT('r', seq) FROM seq_1_to_${ROWS} ORDER BY seq DESC`,
      );
      return async () => {
        await connection.query(`DROP TABLE ${table}`);
        await connection.end();
      };
    },
  },
  {
    kind: 'postgres' as const,
    available: postgresAvailable,
    source: {
      host: '127.0.0.1',
      port: 5432,
      user: new URL(POSTGRES_ADMIN_URL).username || 'postgres',
      database: 'test',
    },
    setUp: async () => {
      const url = new URL(POSTGRES_ADMIN_URL);
      url.pathname = '/test';
      const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
      await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, label text)`);
      await sql.unsafe(`INSERT INTO ${table} SELECT g * 3, 'r' || g FROM generate_series(${ROWS}, 1, -1) g`);
      return async () => {
        await sql.unsafe(`DROP TABLE ${table}`);
        await sql.end({ timeout: 1 });
      };
    },
  },
])('$kind reader', ({ kind, available, source, setUp }) => {
  let tearDown: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (await available()) tearDown = await setUp();
  }, 60_000);
  afterAll(async () => tearDown?.());

  it('reads a table of 100k rows once each, in key order, and goes on from a checkpoint', async ({ skip }) => {
    if (!tearDown) return skip();
    const byTable: DatabaseSource = { kind, ...source, table, key: 'id' };
    expect(await readerFor(byTable, undefined).total()).toBe(ROWS);
    const all = await readKeys(byTable);
    expect(all.keys).toHaveLength(ROWS);
    expect(ascendingOnce(all.keys)).toBe(true);
    expect(all.batches).toBe(Math.ceil(ROWS / 7000));
    expect(all.last).toMatchObject({ checkpoint: { key: ROWS * 3 }, position: ROWS });

    const rest = await readKeys(byTable, { key: 150_000 });
    expect(rest.keys).toEqual(all.keys.filter((key) => key > 150_000));
    expect(rest.last!.position).toBe(ROWS);
  }, 60_000);

  it('pages a query by its key the same way', async ({ skip }) => {
    if (!tearDown) return skip();
    const query: DatabaseSource = {
      kind,
      ...source,
      query: `SELECT id, label FROM ${table} WHERE id % 2 = 0`,
      key: 'id',
    };
    const { keys } = await readKeys(query, { key: 30 });
    expect(keys).toHaveLength(ROWS / 2 - 5);
    expect(keys[0]).toBe(36);
    expect(ascendingOnce(keys)).toBe(true);
  }, 60_000);

  it('finds its key column whatever the case of its name, and refuses a key the rows lack', async ({ skip }) => {
    if (!tearDown) return skip();
    const byTable: DatabaseSource = { kind, ...source, table, key: 'ID' };
    const { keys, last } = await readKeys(byTable, { key: ROWS * 3 - 30 });
    expect(keys).toEqual(Array.from({ length: 10 }, (_, at) => ROWS * 3 - 27 + at * 3));
    expect(last?.checkpoint).toEqual({ key: ROWS * 3 });
    const lacking = { ...byTable, key: 'nope' };
    const problem = 'the key column "nope" is not among the columns of the rows: id, label';
    await expect(readerFor(lacking, undefined).validate!()).rejects.toThrow(problem);
    await expect(readKeys(lacking)).rejects.toThrow(problem);
  }, 60_000);

  it('refuses a key that repeats or is null: up front by counting, and at the row, whatever the page', async ({
    skip,
  }) => {
    if (!tearDown) return skip();
    const first = `SELECT id, label FROM ${table} WHERE id <= 30`;
    for (const [row, problem] of [
      ['30', 'the key column "id" holds 30 in two rows'],
      ['NULL', 'the key column "id" is null in a row'],
    ] as const) {
      const query: DatabaseSource = { kind, ...source, query: `${first} UNION ALL SELECT ${row}, 'x'`, key: 'id' };
      await expect(readerFor(query, undefined).validate!()).rejects.toThrow(
        `the key column "id" must be unique and never null: 11 rows, 10 distinct non-null keys`,
      );
      await expect(readKeys(query)).rejects.toThrow(problem);
    }
    const unique: DatabaseSource = { kind, ...source, query: first, key: 'id' };
    await expect(readerFor(unique, undefined).validate!()).resolves.toBeUndefined();
  }, 60_000);
});
