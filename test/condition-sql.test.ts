/**
 * Agreement: for generated conditions and generated rows, the evaluator (over documentFromRow) and
 * the SQL compiler select the same rows, on PGlite always and on PostgreSQL when reachable
 * (postgresql://postgres@127.0.0.1:5432/test; required when MERIDIAN_REQUIRE_SERVICES=1).
 * Seeded: a failure prints the seed, condition and row so it reproduces.
 */
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileCondition,
  compileToSql,
  DEFAULT_SQL_MAPPING,
  documentFromRow,
  type SourceTableMapping,
} from '../src/condition/index.js';
import { mulberry32, type Random } from './support/random.js';

const SEED = Number(process.env.CONDITION_AGREEMENT_SEED ?? 20240601);
const CONDITION_COUNT = 400;
const ROW_COUNT = 60;
const POSTGRES_URL = process.env.MERIDIAN_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const CLOCK = () => new Date('2024-06-01T12:00:00.000Z');

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const chance = (random: Random, p: number) => random() < p;

// ---- generated data ----

const STRINGS = [
  '',
  'a',
  'A',
  'abc',
  'Abc',
  'b',
  'hello world',
  'Hello',
  'zz',
  'é',
  'É',
  '日本',
  '😀',
  'a"b',
  "it's",
  '1',
  'true',
  'null',
  '2021-01-10',
  '2021-02-30',
  '2021-01-10T10:00:00Z',
  '2021-01-10 10:00:00.123456+01:00',
  '2023-12-31T23:59:59+0530',
  '2021-01-10T10:00',
  '999-01-01',
  'x y',
];
const NUMBERS = [0, 1, -1, 2, 1.5, -3.25, 10, 100, 1e3, 0.1, 1650976227, 1e12];
const KEYS = ['a', 'b', 'c', 'x y', '0', 'n', 'time', 'q"\\'];

function randomScalar(random: Random): unknown {
  switch (Math.floor(random() * 5)) {
    case 0:
      return pick(random, NUMBERS);
    case 1:
      return pick(random, STRINGS);
    case 2:
      return random() < 0.5;
    case 3:
      return null;
    default:
      return pick(random, NUMBERS) * (random() < 0.5 ? 1 : -1);
  }
}

function randomJson(random: Random, depth = 0): unknown {
  const roll = random();
  if (depth >= 3 || roll < 0.55) return randomScalar(random);
  if (roll < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
  return randomObject(random, depth + 1);
}

function randomObject(random: Random, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const key of KEYS) if (chance(random, 0.6)) object[key] = randomJson(random, depth);
  return object;
}

const maybeNull = <T>(random: Random, value: () => T): T | null => (chance(random, 0.15) ? null : value());
const randomTimestamp = (random: Random) =>
  new Date(
    Date.UTC(
      2020 + Math.floor(random() * 5),
      Math.floor(random() * 12),
      1 + Math.floor(random() * 28),
      Math.floor(random() * 24),
      0,
      0,
      Math.floor(random() * 1000),
    ),
  );
const uuid = (random: Random) =>
  'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, () => Math.floor(random() * 16).toString(16));

function randomProfileRow(random: Random): Record<string, unknown> {
  return {
    id: uuid(random),
    ids: maybeNull(random, () => Array.from({ length: Math.floor(random() * 3) }, () => pick(random, STRINGS))),
    traits: maybeNull(random, () => randomObject(random)),
    pii: maybeNull(random, () => randomObject(random)),
    data: randomObject(random),
    stats: maybeNull(random, () => randomObject(random)),
    consents: randomObject(random),
    segments: maybeNull(random, () =>
      Array.from({ length: Math.floor(random() * 3) }, () => pick(random, ['vip', 'new', 'a', ''])),
    ),
    active: maybeNull(random, () => random() < 0.5),
    created_at: maybeNull(random, () => randomTimestamp(random)),
    updated_at: maybeNull(random, () => randomTimestamp(random)),
    last_visit_at: maybeNull(random, () => randomTimestamp(random)),
    current_visit_at: maybeNull(random, () => randomTimestamp(random)),
    visits: maybeNull(random, () => Math.floor(random() * 20)),
    metadata: maybeNull(random, () => (chance(random, 0.5) ? randomObject(random) : randomJson(random))),
  };
}

function randomSessionRow(random: Random): Record<string, unknown> {
  return {
    id: uuid(random),
    profile_id: maybeNull(random, () => uuid(random)),
    context: maybeNull(random, () => randomObject(random)),
    metadata: maybeNull(random, () => randomObject(random)),
    device: randomObject(random),
    os: maybeNull(random, () => randomObject(random)),
    app: randomObject(random),
    created_at: maybeNull(random, () => randomTimestamp(random)),
    last_event_at: maybeNull(random, () => randomTimestamp(random)),
  };
}

function randomEventRow(random: Random): Record<string, unknown> {
  return {
    id: uuid(random),
    type: maybeNull(random, () => pick(random, ['page-view', 'purchase', 'a', ''])),
    profile_id: uuid(random),
    session_id: maybeNull(random, () => uuid(random)),
    source_id: maybeNull(random, () => pick(random, ['web', 'app'])),
    properties: maybeNull(random, () => randomObject(random)),
    traits: randomObject(random),
    context: maybeNull(random, () => randomObject(random)),
    tags: maybeNull(random, () => [pick(random, ['x', 'y', 'a'])]),
    occurred_at: maybeNull(random, () => randomTimestamp(random)),
    inserted_at: maybeNull(random, () => randomTimestamp(random)),
  };
}

// ---- generated conditions ----

const PROFILE_FIELDS = [
  'traits["q\\"\\\\"]',
  'traits.a',
  'traits.b',
  'traits["x y"]',
  'traits.c.0',
  'traits.c.-1',
  'traits.a.b',
  'traits.n',
  'traits.c',
  'stats.a',
  'stats.n',
  'pii.a',
  'data.time',
  'data.a.c',
  'consents.b',
  'ids',
  'ids.0',
  'segments',
  'segments.1',
  'active',
  'id',
  'metadata',
  'metadata.a',
  'metadata.time',
  'metadata.time.create',
  'metadata.time.visit.count',
  'metadata.time.visit',
  'metadata.time.visit.last',
  'metadata.time.visit.current',
  'metadata.time.update',
  'traits',
  'missing.a',
  '',
];
const SESSION_FIELDS = [
  'id',
  'profile.id',
  'context.a',
  'metadata',
  'metadata.time',
  'metadata.time.insert',
  'metadata.time.update',
  'metadata.a',
  'device.a',
  'os.b',
  'app.c.0',
  'profile',
  '',
];
const EVENT_FIELDS = [
  'type',
  'properties.a',
  'properties.b',
  'properties.c.0',
  'traits.a',
  'traits.n',
  'context.b',
  'tags',
  'tags.0',
  'profile.id',
  'session.id',
  'source.id',
  'metadata.time.insert',
  'metadata.time.occurred',
  'metadata',
  'properties',
  '',
];

function literal(random: Random): string {
  const roll = random();
  if (roll < 0.75) return JSON.stringify(randomScalar(random));
  if (roll < 0.9)
    return `[${Array.from({ length: Math.floor(random() * 3) + 1 }, () => JSON.stringify(randomScalar(random))).join(', ')}]`;
  return pick(random, ['10m', '-1h', '1d', '.5', '-3']);
}

function operandText(random: Random, source: string, fields: readonly string[]): string {
  const field = () => `${source}@${pick(random, fields)}`;
  const roll = random();
  if (roll < 0.55) return field();
  if (roll < 0.75) return literal(random);
  return pick(random, [
    () => `datetime(${field()})`,
    () => `datetime.offset(${field()}, "-1d")`,
    () => `datetime.from_timestamp(${field()})`,
    () => `datetime.timezone(${field()}, "Europe/Warsaw")`,
    () => `lowercase(${field()})`,
    () => `uppercase(${field()})`,
    () => 'now()',
    () => 'now.offset("-1h")',
    () => 'datetime("2021-01-10")',
    () => 'datetime("2022-06-01T00:00:00Z")',
  ])();
}

function predicateText(random: Random, source: string, fields: readonly string[]): string {
  const operand = () => operandText(random, source, fields);
  const field = () => `${source}@${pick(random, fields)}`;
  return pick(random, [
    () => `${operand()} ${pick(random, ['==', '!=', '>', '>=', '<', '<=', '='])} ${operand()}`,
    () => `${field()} ${pick(random, ['==', '!=', '>', '<='])} ${literal(random)}`,
    () => `${field()} ${pick(random, ['==', '!=', '>', '>=', '<', '<='])} ${field()}`,
    () => `${field()} ${pick(random, ['IS NULL', 'IS NOT NULL', 'EXISTS', 'NOT EXISTS', 'EMPTY', 'NOT EMPTY'])}`,
    () => `${operand()} BETWEEN ${operand()} AND ${operand()}`,
    () => `${operand()} IS ${pick(random, ['', 'NOT '])}NULL`,
    () => `${field()} ${pick(random, ['', 'NOT '])}EXISTS`,
    () => `${operand()} ${pick(random, ['', 'NOT '])}EMPTY`,
    () => `${operand()} ${pick(random, ['', 'NOT '])}IN [${[literal(random), literal(random)].join(', ')}]`,
    () => `${operand()} ${pick(random, ['CONTAINS', 'STARTS WITH', 'ENDS WITH'])} ${operand()}`,
  ])();
}

function conditionText(random: Random, source: string, fields: readonly string[], depth = 0): string {
  const roll = random();
  if (depth >= 2 || roll < 0.6) return predicateText(random, source, fields);
  if (roll < 0.6) return `NOT (${conditionText(random, source, fields, depth + 1)})`;
  const joiner = random() < 0.5 ? ' AND ' : ' OR ';
  const parts = Array.from({ length: 2 + Math.floor(random() * 2) }, () =>
    conditionText(random, source, fields, depth + 1),
  );
  return random() < 0.5 ? `(${parts.join(joiner)})` : parts.join(joiner);
}

// ---- databases ----

interface Database {
  name: string;
  query(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const TABLE_DDL = `
  CREATE TABLE profiles (id text PRIMARY KEY, ids text[], traits jsonb, pii jsonb, data jsonb, stats jsonb, consents jsonb,
    segments text[], active boolean, created_at timestamptz, updated_at timestamptz, visits int, last_visit_at timestamptz,
    current_visit_at timestamptz, metadata jsonb);
  CREATE TABLE events (id text PRIMARY KEY, type text, profile_id text, session_id text, source_id text, properties jsonb,
    traits jsonb, context jsonb, tags text[], occurred_at timestamptz, inserted_at timestamptz);
  CREATE TABLE sessions (id text PRIMARY KEY, profile_id text, context jsonb, metadata jsonb, device jsonb, os jsonb, app jsonb,
    created_at timestamptz, last_event_at timestamptz);`;

/** Every value is sent as text and cast in SQL, so both drivers store exactly what was generated. */
async function insertRows(db: Database, mapping: SourceTableMapping, rows: Record<string, unknown>[]): Promise<void> {
  const types = new Map(mapping.columns.map((column) => [column.column, column.type]));
  for (const row of rows) {
    const columns = Object.keys(row);
    const values = columns.map((column) => {
      const value = row[column];
      if (value === null) return null;
      if (value instanceof Date) return value.toISOString();
      if (types.get(column) === 'text[]') {
        return `{${(value as unknown[]).map((item) => `"${String(item).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
      }
      return types.get(column) === 'jsonb' ? JSON.stringify(value) : String(value);
    });
    const placeholders = columns.map((column, i) => `$${i + 1}::text::${types.get(column)}`).join(', ');
    await db.query(`INSERT INTO ${mapping.table} (${columns.join(', ')}) VALUES (${placeholders})`, values);
  }
}

async function openPglite(): Promise<Database> {
  const pg = new PGlite();
  return {
    name: 'PGlite',
    query: async (sql, params) => (await pg.query<Record<string, unknown>>(sql, params)).rows,
    close: () => pg.close(),
  };
}

async function openPostgres(): Promise<Database | undefined> {
  const schema = `cond_agree_${Math.random().toString(36).slice(2, 10)}`;
  const sql = postgres(POSTGRES_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE SCHEMA ${schema}`);
    await sql.unsafe(`SET search_path TO ${schema}`);
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    const reason = `PostgreSQL unreachable at ${POSTGRES_URL}: ${(error as Error).message}`;
    if (process.env.MERIDIAN_REQUIRE_SERVICES === '1') throw new Error(reason);
    console.warn(`\n*** SKIPPING PostgreSQL condition agreement: ${reason} ***\n`);
    return undefined;
  }
  return {
    name: 'PostgreSQL',
    query: async (text, params) => [...(await sql.unsafe(text, params as string[]))] as Record<string, unknown>[],
    close: async () => {
      await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await sql.end({ timeout: 5 });
    },
  };
}

// ---- the agreement check ----

interface Scenario {
  source: 'profile' | 'event' | 'session';
  mapping: SourceTableMapping;
  fields: readonly string[];
  makeRow: (random: Random) => Record<string, unknown>;
}

const SCENARIOS: Scenario[] = [
  { source: 'profile', mapping: DEFAULT_SQL_MAPPING.profile!, fields: PROFILE_FIELDS, makeRow: randomProfileRow },
  { source: 'event', mapping: DEFAULT_SQL_MAPPING.event!, fields: EVENT_FIELDS, makeRow: randomEventRow },
  { source: 'session', mapping: DEFAULT_SQL_MAPPING.session!, fields: SESSION_FIELDS, makeRow: randomSessionRow },
];

/** Counts the row checks, and the conditions that selected some rows but not all (the telling ones). */
async function checkAgreement(db: Database): Promise<{ checked: number; discriminating: number; conditions: number }> {
  const random = mulberry32(SEED);
  let checked = 0;
  let discriminating = 0;
  let conditions = 0;
  for (const scenario of SCENARIOS) {
    const rows = Array.from({ length: ROW_COUNT }, () => scenario.makeRow(random));
    await insertRows(db, scenario.mapping, rows);
    const stored = await db.query(`SELECT * FROM ${scenario.mapping.table}`, []);
    const documents = new Map(stored.map((row) => [String(row.id), documentFromRow(scenario.mapping, row)]));
    const count = scenario.source === 'profile' ? CONDITION_COUNT : CONDITION_COUNT / 4;
    for (let i = 0; i < count; i++) {
      const text = conditionText(random, scenario.source, scenario.fields);
      const compiled = compileCondition(text, { now: CLOCK });
      const fragment = compileToSql(text, { now: CLOCK, paramOffset: 1 });
      const alias = scenario.mapping.alias;
      const selected = await db
        .query(
          `SELECT ${alias}.id FROM ${scenario.mapping.table} ${alias} WHERE $1::text IS NOT NULL AND ${fragment.sql}`,
          ['x', ...fragment.params],
        )
        .catch((error: Error) => {
          throw new Error(
            `${db.name} rejected (seed ${SEED}) ${text}\n${fragment.sql}\n${JSON.stringify(fragment.params)}\n${error.message}`,
          );
        });
      const bySql = new Set(selected.map((row) => String(row.id)));
      conditions++;
      if (bySql.size > 0 && bySql.size < documents.size) discriminating++;
      for (const [id, document] of documents) {
        const expected = compiled.evaluate({ [scenario.source]: document });
        if (bySql.has(id) !== expected) {
          throw new Error(
            `${db.name} disagrees (seed ${SEED}) on ${text}\nevaluator: ${expected}, SQL: ${!expected}\n` +
              `document: ${JSON.stringify(document)}\nsql: ${fragment.sql}\nparams: ${JSON.stringify(fragment.params)}`,
          );
        }
        checked++;
      }
    }
  }
  console.info(`${db.name}: ${conditions} conditions, ${discriminating} discriminating, ${checked} row checks`);
  return { checked, discriminating, conditions };
}

function expectMeaningful(outcome: { checked: number; discriminating: number; conditions: number }): void {
  expect(outcome.checked).toBeGreaterThan(CONDITION_COUNT * ROW_COUNT);
  // Guards the generator: conditions that are true or false for every row prove little.
  expect(outcome.discriminating).toBeGreaterThan(outcome.conditions * 0.25);
}

describe('condition evaluator and SQL compiler agree', () => {
  const databases: Database[] = [];
  let postgresDb: Database | undefined;

  beforeAll(async () => {
    databases.push(await openPglite());
    postgresDb = await openPostgres();
    if (postgresDb) databases.push(postgresDb);
    for (const db of databases) for (const ddl of TABLE_DDL.split(';').filter((s) => s.trim())) await db.query(ddl, []);
  });

  afterAll(async () => {
    for (const db of databases) await db.close();
  });

  it('on PGlite', async () => {
    expectMeaningful(await checkAgreement(databases[0]!));
  });

  it('on PostgreSQL', async (context) => {
    if (!postgresDb) return context.skip();
    expectMeaningful(await checkAgreement(postgresDb));
  });
});
