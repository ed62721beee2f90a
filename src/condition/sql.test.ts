import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from './ast.js';
import { ConditionNotCompilableError } from './errors.js';
import { compileToSql } from './sql.js';
import { DEFAULT_SQL_MAPPING, documentFromRow } from './sql-mapping.js';

const CLOCK = () => new Date('2024-06-01T12:00:00Z');

describe('compileToSql', () => {
  it('sends every value as a parameter, numbered from the offset', () => {
    const { sql, params } = compileToSql(
      `profile@traits.name == "x'; DROP TABLE profiles; --" AND profile@stats.visits > 3`,
      {
        paramOffset: 2,
      },
    );
    expect(sql).not.toContain('DROP');
    expect(sql).toContain('$3::text');
    expect(sql).toContain('$6::text');
    expect(sql).not.toContain('$7');
    expect(params).toEqual(['{"name"}', `"x'; DROP TABLE profiles; --"`, '{"visits"}', '3']);
  });

  it('decides conditions without fields at compile time', () => {
    expect(compileToSql('1 == 1', {})).toEqual({ sql: 'TRUE', params: [] });
    expect(compileToSql('now() > datetime("2030-01-01")', { now: CLOCK })).toEqual({ sql: 'FALSE', params: [] });
  });

  it('reads now() from the injected clock into a parameter', () => {
    const { params } = compileToSql('datetime(profile@metadata.time.visit.last) > now.offset("-7d")', { now: CLOCK });
    expect(params).toEqual(['2024-05-25T12:00:00.000000Z']);
  });

  it('uses the typed column for a date-time column', () => {
    const { sql } = compileToSql('datetime(profile@metadata.time.create) > now()', { now: CLOCK });
    expect(sql).toContain('p.created_at >');
  });

  it('refuses what has no SQL form with a typed error', () => {
    for (const [condition, reason] of [
      ['payload@a == 1', 'payload@'],
      ['profile@a == 1 AND flow@id == "x"', 'flow@'],
      ['now(profile@tz) > now()', 'now() with a field argument'],
      ['datetime.offset(profile@a, profile@b) > now()', 'an offset read from a field'],
      ['datetime.timezone(profile@a, profile@tz) > now()', 'a time zone read from a field'],
      ['profile@a == "nul\\u0000"', 'NUL'],
    ] as const) {
      expect(() => compileToSql(condition), condition).toThrow(ConditionNotCompilableError);
      expect(() => compileToSql(condition), condition).toThrow(reason);
    }
    // The parser refuses half a surrogate pair; a condition built as a tree is checked again here.
    const halfPair: Condition = {
      kind: 'in',
      operand: { kind: 'field', source: 'profile', path: ['a'], position: 0 },
      list: { kind: 'literal', value: ['ok', 'x\ud800'], position: 14 },
    };
    expect(() => compileToSql(halfPair)).toThrow(/Cannot compile to SQL: a value containing an unpaired surrogate/);
    try {
      compileToSql('profile@a == 1 AND session@id == "x"', { mapping: { profile: DEFAULT_SQL_MAPPING.profile } });
    } catch (error) {
      expect((error as ConditionNotCompilableError).position).toBe(19);
    }
  });
});

describe('compileToSql on PGlite', () => {
  const db = new PGlite();
  const profile = DEFAULT_SQL_MAPPING.profile!;

  beforeAll(async () => {
    await db.exec(`CREATE TABLE profiles (id uuid PRIMARY KEY, ids text[], traits jsonb, pii jsonb, data jsonb, stats jsonb,
      consents jsonb, segments text[], active boolean, created_at timestamptz, updated_at timestamptz, visits int,
      last_visit_at timestamptz, metadata jsonb)`);
    await db.exec(`INSERT INTO profiles (id, traits, segments, visits, created_at, metadata) VALUES
      ('00000000-0000-4000-8000-000000000001', '{"age": 30, "tags": ["a", "b"]}', '{vip}', 5, '2024-05-30T10:00:00Z', '{"source": "web"}'),
      ('00000000-0000-4000-8000-000000000002', '{"age": "30"}', NULL, NULL, NULL, NULL)`);
  });

  afterAll(() => db.close());

  async function select(condition: string): Promise<string[]> {
    const { sql, params } = compileToSql(condition, { now: CLOCK, paramOffset: 0 });
    const result = await db.query<{ id: string }>(`SELECT p.id FROM profiles p WHERE ${sql} ORDER BY p.id`, params);
    return result.rows.map((row) => row.id.slice(-1));
  }

  it('selects by typed comparison, never by a mismatched type', async () => {
    expect(await select('profile@traits.age > 18')).toEqual(['1']);
    expect(await select('profile@traits.age == "30"')).toEqual(['2']);
    expect(await select('profile@traits.age != 30')).toEqual(['2']);
  });

  it('reads lists, columns and the metadata document', async () => {
    expect(await select('profile@segments CONTAINS "vip"')).toEqual(['1']);
    expect(await select('profile@traits.tags CONTAINS "b"')).toEqual(['1']);
    expect(await select('"b" == profile@traits.tags')).toEqual(['1']);
    expect(await select('profile@metadata.time.visit.count >= 5')).toEqual(['1']);
    expect(await select('profile@metadata.source == "web"')).toEqual(['1']);
    expect(await select('profile@metadata.time.create EXISTS')).toEqual(['1', '2']);
    expect(await select('profile@metadata.time.create IS NULL')).toEqual(['2']);
    expect(await select('datetime(profile@metadata.time.create) > now.offset("-7d")')).toEqual(['1']);
    expect(await select('profile@segments EMPTY')).toEqual(['2']);
  });

  it('builds the same document in JavaScript as in SQL', async () => {
    const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM profiles ORDER BY id`);
    expect(documentFromRow(profile, rows[0]!)).toMatchObject({
      id: '00000000-0000-4000-8000-000000000001',
      segments: ['vip'],
      traits: { age: 30 },
      metadata: {
        source: 'web',
        time: { create: '2024-05-30T10:00:00.000Z', update: null, visit: { last: null, count: 5 } },
      },
    });
  });
});
