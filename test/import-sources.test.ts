/**
 * The database readers over 100k rows, MariaDB (127.0.0.1:3306, root, database `test`) and PostgreSQL,
 * both paged by key: each row once, in key order, and from a checkpoint only what follows it; keys of
 * many types exactly, and keys that cannot key rows refused.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
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

/** Each batch's refs and checkpoint. */
async function readRefs(source: DatabaseSource, after: Checkpoint | undefined, batchSize: number) {
  const batches: { refs: string[]; checkpoint: Checkpoint }[] = [];
  for await (const batch of readerFor(source, undefined).read(after, batchSize))
    batches.push({ refs: batch.items.map((item) => item.ref), checkpoint: batch.checkpoint });
  return batches;
}

/**
 * Keys of many types, five rows each, in key order: times a microsecond apart, bytes whose base64
 * text sorts otherwise, decimals and integers beyond a double's precision. A row's ref is what its
 * event id derives from: those of keys read exactly before (integers, text, dates, whole
 * milliseconds, bytes as base64) must stay as they were.
 */
const keysTable = `${table}_keys`;
const TIMES = ['00:00.123456', '00:00.123457', '00:00.124', '00:01', '00:01.5'].map((time) => `2023-01-01 00:${time}`);
// The first time of a millisecond keeps the ref an earlier version gave it (to the millisecond); a later one in it adds its digits.
const TIME_REFS = [
  'key 2023-01-01T00:00:00.123Z',
  'key 2023-01-01T00:00:00.123457Z',
  'key 2023-01-01T00:00:00.124Z',
  'key 2023-01-01T00:00:01.000Z',
  'key 2023-01-01T00:00:01.500Z',
];
const DECIMALS = ['0000000001', '0000000002', '0000000003', '5000000000', '5000000001'].map(
  (fraction) => `12345678901234567.${fraction}`,
);
const KEY_REFS = {
  n: ['key 1', 'key 2', 'key 3', 'key 4', 'key 5'],
  at: TIME_REFS,
  day: [1, 2, 3, 4, 5].map((day) => `key 2023-01-0${day}T00:00:00.000Z`),
  bin: ['key AP8=', 'key AQ==', 'key fw==', 'key gA==', 'key /wE='],
  label: ['key a', 'key b', 'key c', 'key d', 'key e'],
};
const BYTES = ['00ff', '01', '7f', '80', 'ff01'];
const BIGS = {
  mysql: ['1', '9007199254740993', '18446744073709551613', '18446744073709551614', '18446744073709551615'],
  postgres: [
    '-9223372036854775808',
    '-9223372036854775807',
    '9007199254740993',
    '9223372036854775806',
    '9223372036854775807',
  ],
};

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
      await connection.query(
        `CREATE TABLE ${keysTable} (n INT, at DATETIME(6), stamp TIMESTAMP(6) NULL, day DATE, bin VARBINARY(8),
           amount DECIMAL(30, 10), big BIGINT UNSIGNED, label VARCHAR(10), ratio FLOAT)`,
      );
      await connection.query(`INSERT INTO ${keysTable} VALUES ?`, [
        [0, 1, 2, 3, 4].map((at) => [
          at + 1,
          TIMES[at],
          TIMES[at],
          `2023-01-0${at + 1}`,
          Buffer.from(BYTES[at]!, 'hex'),
          DECIMALS[at],
          BIGS.mysql[at],
          KEY_REFS.label[at]!.slice(4),
          at / 10,
        ]),
      ]);
      return async () => {
        await connection.query(`DROP TABLE ${table}, ${keysTable}`);
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
      await sql.unsafe(
        `CREATE TABLE ${keysTable} (n int, at timestamptz, stamp timestamp, day date, bin bytea, amount numeric,
           big bigint, label text)`,
      );
      for (const at of [0, 1, 2, 3, 4])
        await sql.unsafe(
          `INSERT INTO ${keysTable} VALUES ($1, $2::text::timestamptz, $2::text::timestamp, $3, decode($4, 'hex'), $5, $6, $7)`,
          [
            at + 1,
            `${TIMES[at]}+00`,
            `2023-01-0${at + 1}`,
            BYTES[at]!,
            DECIMALS[at]!,
            BIGS.postgres[at]!,
            KEY_REFS.label[at]!.slice(4),
          ],
        );
      return async () => {
        await sql.unsafe(`DROP TABLE ${table}, ${keysTable}`);
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
    expect(all.last).toMatchObject({ checkpoint: { key: String(ROWS * 3) }, position: ROWS });

    const rest = await readKeys(byTable, { key: 150_000 });
    expect(rest.keys).toEqual(all.keys.filter((key) => key > 150_000));
    expect(rest.last!.position).toBe(ROWS);
  }, 60_000);

  it('pages a query by its key the same way', async ({ skip }) => {
    if (!tearDown) return skip();
    const query: DatabaseSource = {
      kind,
      ...source,
      // As typed in a SQL console: a comment at its end, and a semicolon.
      query: `SELECT id, label FROM ${table} WHERE id % 2 = 0 -- the even ones\n;  `,
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
    expect(last?.checkpoint).toEqual({ key: String(ROWS * 3) });
    const lacking = { ...byTable, key: 'nope' };
    const problem = 'the key column "nope" is not among the columns of the rows: id, label';
    await expect(readerFor(lacking, undefined).validate!(undefined)).rejects.toThrow(problem);
    await expect(readKeys(lacking)).rejects.toThrow(problem);
  }, 60_000);

  it('reads keys of many types exactly, whatever the batch size, and goes on from any checkpoint', async ({ skip }) => {
    if (!tearDown) return skip();
    const refs = {
      ...KEY_REFS,
      stamp: TIME_REFS,
      amount: DECIMALS.map((amount) => `key ${amount}`),
      big: BIGS[kind].map((big) => `key ${big}`),
    };
    for (const [key, expected] of Object.entries(refs)) {
      const byKey: DatabaseSource = { kind, ...source, table: keysTable, key };
      await expect(readerFor(byKey, undefined).validate!(undefined), key).resolves.toBeUndefined();
      for (const batchSize of [1, 2]) {
        const batches = await readRefs(byKey, undefined, batchSize);
        expect(
          batches.flatMap((batch) => batch.refs),
          `${key} by ${batchSize}`,
        ).toEqual(expected);
        const rest = await readRefs(byKey, batches[2 / batchSize - 1]!.checkpoint, batchSize);
        expect(
          rest.flatMap((batch) => batch.refs),
          `${key} by ${batchSize} from a checkpoint`,
        ).toEqual(expected.slice(2));
      }
    }
    // Checkpoints as an earlier version wrote them: numbers, and times as JSON holds a Date.
    for (const [key, checkpoint, rest] of [
      ['n', 2, KEY_REFS.n.slice(2)],
      ['at', '2023-01-01T00:00:00.124Z', TIME_REFS.slice(3)],
      ['stamp', '2023-01-01T00:00:01.000Z', TIME_REFS.slice(4)],
      ['day', '2023-01-02T00:00:00.000Z', KEY_REFS.day.slice(2)],
    ] as const) {
      const batches = await readRefs({ kind, ...source, table: keysTable, key }, { key: checkpoint }, 2);
      expect(
        batches.flatMap((batch) => batch.refs),
        `${key} from ${checkpoint}`,
      ).toEqual(rest);
    }
    // A checkpoint the server cannot read as the key's type (an earlier version wrote "null" for a
    // zero date) fails the run, rather than ending it done with nothing read (MySQL casts it to NULL).
    await expect(readRefs({ kind, ...source, table: keysTable, key: 'stamp' }, { key: 'null' }, 2)).rejects.toThrow(
      kind === 'mysql' ? 'cannot go on from null' : 'invalid input syntax',
    );
  }, 60_000);

  it('sorts long text keys by all of their characters, not their first kilobyte', async ({ skip }) => {
    if (!tearDown) return skip();
    const long = (last: string) =>
      kind === 'mysql' ? `CONCAT(REPEAT('a', 1100), '${last}')` : `repeat('a', 1100) || '${last}'`;
    const query =
      ['z', 'b', 'm'].map((last) => `SELECT ${long(last)} AS k`).join(' UNION ALL ') + " UNION ALL SELECT 'b'";
    const batches = await readRefs({ kind, ...source, query, key: 'k' }, undefined, 1);
    expect(batches.map((batch) => batch.refs[0]!.slice(-1))).toEqual(['b', 'm', 'z', 'b']);
  }, 60_000);

  it('refuses a key whose values cannot be sent back exactly', async ({ skip }) => {
    if (!tearDown || kind !== 'mysql') return skip();
    const byRatio: DatabaseSource = { kind, ...source, table: keysTable, key: 'ratio' };
    const problem = 'the key column "ratio" is FLOAT';
    await expect(readerFor(byRatio, undefined).validate!(undefined)).rejects.toThrow(problem);
    await expect(readRefs(byRatio, undefined, 2)).rejects.toThrow(problem);
  });

  it('reads times without a time zone as UTC, whatever the time zone of the process', async ({ skip }) => {
    if (!tearDown || kind !== 'postgres') return skip();
    const zone = process.env['TZ'];
    process.env['TZ'] = 'Asia/Kathmandu';
    try {
      const times: DatabaseSource = {
        kind,
        ...source,
        query: `SELECT 1 AS n, timestamp '2023-01-01 00:00:00.123456' AS at, timestamp '10000-01-01 00:00' AS far,
                  timestamp 'infinity' AS never, timestamp '0050-01-02 10:00:00.25' AS ancient,
                  timestamptz '0050-01-02 10:00:00.25+00' AS ancient_instant`,
        key: 'n',
      };
      const items = [];
      for await (const batch of readerFor(times, undefined).read(undefined, 10)) items.push(...batch.items);
      expect(items).toEqual([
        {
          ref: 'key 1',
          row: {
            n: 1,
            at: '2023-01-01T00:00:00.123Z',
            far: '+010000-01-01T00:00:00.000Z',
            never: null,
            ancient: '0050-01-02T10:00:00.250Z',
            ancient_instant: '0050-01-02T10:00:00.250Z',
          },
        },
      ]);
      expect((await readRefs({ kind, ...source, table: keysTable, key: 'stamp' }, undefined, 5))[0]!.refs).toEqual(
        TIME_REFS,
      );
    } finally {
      if (zone === undefined) delete process.env['TZ'];
      else process.env['TZ'] = zone;
    }
  });

  it('reads a null in an array as null, not as the text "NULL"', async ({ skip }) => {
    if (!tearDown || kind !== 'postgres') return skip();
    const arrays: DatabaseSource = {
      kind,
      ...source,
      query: `SELECT 1 AS n, ARRAY['a', NULL, 'NULL', 'x,y', 'q"uote', 'back\\slash', '', ' b ']::text[] AS words,
                ARRAY[[1, NULL], [3, 4]]::int[] AS grid, '{}'::text[] AS none, '[0:1]={5,6}'::int[] AS bounded`,
      key: 'n',
    };
    const items = [];
    for await (const batch of readerFor(arrays, undefined).read(undefined, 10)) items.push(...batch.items);
    expect(items).toEqual([
      {
        ref: 'key 1',
        row: {
          n: 1,
          words: ['a', null, 'NULL', 'x,y', 'q"uote', 'back\\slash', '', ' b '],
          grid: [
            [1, null],
            [3, 4],
          ],
          none: [],
          bounded: [5, 6],
        },
      },
    ]);
  });

  it('reads a BIT as its number, so that a BIT(1) flag maps as a boolean', async ({ skip }) => {
    if (!tearDown || kind !== 'mysql') return skip();
    const bits = `${table}_bits`;
    const connection = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
    try {
      await connection.query(`CREATE TABLE ${bits} (n INT PRIMARY KEY, flag BIT(1), five BIT(3), wide BIT(64))`);
      await connection.query(
        `INSERT INTO ${bits} VALUES (1, b'1', b'101', b'${'1'.repeat(64)}'), (2, b'0', NULL, b'0'), (3, NULL, NULL, NULL)`,
      );
      const items = [];
      for await (const batch of readerFor({ kind, ...source, table: bits, key: 'n' }, undefined).read(undefined, 10))
        items.push(...batch.items);
      expect(items.map((item) => ('row' in item ? item.row : item))).toEqual([
        { n: 1, flag: 1, five: 5, wide: '18446744073709551615' },
        { n: 2, flag: 0, five: null, wide: 0 },
        { n: 3, flag: null, five: null, wide: null },
      ]);
    } finally {
      await connection.query(`DROP TABLE IF EXISTS ${bits}`);
      await connection.end();
    }
  });

  it('reads a zero date as null, and a year before 100 as that year', async ({ skip }) => {
    if (!tearDown || kind !== 'mysql') return skip();
    // Where sql_mode has no NO_ZERO_DATE (MariaDB's default) legacy tables hold 0000-00-00 and days 00.
    const dates = `${table}_dates`;
    const connection = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
    try {
      await connection.query(`SET SESSION sql_mode = ''`);
      await connection.query(`CREATE TABLE ${dates} (n INT PRIMARY KEY, day DATE, at DATETIME(3))`);
      await connection.query(`INSERT INTO ${dates} VALUES ?`, [
        [
          [1, '0000-00-00', '0000-00-00 00:00:00'],
          [2, '2023-05-00', '2023-00-01 10:00:00'],
          [3, '0050-01-02', '0050-01-02 10:00:00.250'],
          [4, '2023-05-06', '2023-05-06 07:08:09.123'],
        ],
      ]);
      const items = [];
      for await (const batch of readerFor({ kind, ...source, table: dates, key: 'n' }, undefined).read(undefined, 10))
        items.push(...batch.items);
      expect(items.map((item) => ('row' in item ? item.row : item))).toEqual([
        { n: 1, day: null, at: null },
        { n: 2, day: null, at: null },
        { n: 3, day: '0050-01-02T00:00:00.000Z', at: '0050-01-02T10:00:00.250Z' },
        { n: 4, day: '2023-05-06T00:00:00.000Z', at: '2023-05-06T07:08:09.123Z' },
      ]);
    } finally {
      await connection.query(`DROP TABLE IF EXISTS ${dates}`);
      await connection.end();
    }
  });

  it("reads a TIMESTAMP in UTC, its session's time zone whatever the server's", async ({ skip }) => {
    if (!tearDown || kind !== 'mysql') return skip();
    // The server gives a TIMESTAMP in the session's time zone, which mysql2 reads as UTC.
    const zone: DatabaseSource = {
      kind,
      ...source,
      query: `SELECT 1 AS n, @@session.time_zone AS zone, FROM_UNIXTIME(1672531200) AS epoch`,
      key: 'n',
    };
    const items = [];
    for await (const batch of readerFor(zone, undefined).read(undefined, 10)) items.push(...batch.items);
    expect(items).toEqual([{ ref: 'key 1', row: { n: 1, zone: '+00:00', epoch: '2023-01-01T00:00:00.000Z' } }]);
  });

  it('reads each batch in a statement of its own, holding no transaction (nor vacuum) between batches', async ({
    skip,
  }) => {
    if (!tearDown || kind !== 'postgres') return skip();
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = '/test';
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const reader = readerFor({ kind, ...source, table, key: 'id' }, undefined);
    const batches = reader.read(undefined, 1000)[Symbol.asyncIterator]();
    try {
      for (const _ of [1, 2]) {
        expect((await batches.next()).value.items).toHaveLength(1000);
        const holding = await sql.unsafe(
          `SELECT state FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1 AND backend_xmin IS NOT NULL`,
          [`%${table}%`],
        );
        expect(holding).toEqual([]);
      }
    } finally {
      await batches.return?.();
      await sql.end({ timeout: 1 });
    }
  });

  it('fails when the server takes the connection but never answers, within 10 s', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((listening) => silent.listen(0, '127.0.0.1', listening));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const reader = readerFor({ kind, host: '127.0.0.1', port, user: 'u', database: 'd', table: 't', key: 'id' }, '');
      await expect(reader.validate!(undefined)).rejects.toThrow(`could not connect to 127.0.0.1:${port} in 10 s`);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 30_000);

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
      await expect(readerFor(query, undefined).validate!(undefined)).rejects.toThrow(
        `the key column "id" must be unique and never null: 11 rows, 10 distinct non-null keys`,
      );
      await expect(readKeys(query)).rejects.toThrow(problem);
    }
    const unique: DatabaseSource = { kind, ...source, query: first, key: 'id' };
    await expect(readerFor(unique, undefined).validate!(undefined)).resolves.toBeUndefined();
  }, 60_000);
});
