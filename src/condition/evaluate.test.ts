import { describe, expect, it } from 'vitest';
import { compileCondition, type ConditionContext } from './evaluate.js';

const CLOCK = () => new Date('2024-06-01T12:00:00Z');
const check = (condition: string, context: ConditionContext) =>
  compileCondition(condition, { now: CLOCK }).evaluate(context);
const warningsOf = (condition: string, context: ConditionContext) =>
  compileCondition(condition, { now: CLOCK }).evaluateWithWarnings(context).warnings;

const payload = {
  n: 1,
  f: 1.0,
  t: true,
  s: 'Hello world',
  nil: null,
  list: [1, 2, 'x'],
  empty: [],
  obj: { a: 1 },
  date: '2021-01-10',
  ts: 1650976227,
};
const context: ConditionContext = { payload, profile: { id: 'p1', traits: { age: 30, name: 'Ann' } } };

describe('comparisons', () => {
  it.each([
    ['payload@n == 1', true],
    ['payload@n == 1.0', true],
    ['payload@n == "1"', false],
    ['payload@t == 1', true],
    ['payload@t > 0', true],
    ['payload@n == [5, 1]', true],
    ['payload@n == [5]', false],
    ['payload@list == 1', false],
    ['payload@empty == []', false],
    ['payload@obj == payload@obj', true],
    ['payload@n == payload@f', true],
    ['payload@n == payload@s', false],
    ['payload@s > "A"', true],
    ['payload@s < "a"', true],
    ['payload@s > 1', false],
    ['payload@nil == null', true],
    ['payload@nil != null', false],
    ['payload@n BETWEEN 1 AND 1', true],
    ['payload@s BETWEEN "A" AND "I"', true],
  ])('%s → %s', (condition, expected) => expect(check(condition, context)).toBe(expected));

  it('compares code points, not UTF-16 units', () => {
    expect(check('payload@a > payload@b', { payload: { a: '😀', b: '\uffff' } })).toBe(true);
  });
});

describe('missing values', () => {
  it.each([
    ['payload@missing == 1', false],
    ['payload@missing != 1', true],
    ['payload@missing > 1', false],
    ['payload@missing == null', false],
    ['payload@missing IS NULL', false],
    ['payload@missing IS NOT NULL', false],
    ['payload@missing EXISTS', false],
    ['payload@nil EXISTS', true],
    ['payload@missing EMPTY', true],
    ['payload@missing IN [1]', false],
    ['payload@missing NOT IN [1]', true],
    ['payload@missing CONTAINS "a"', false],
    ['payload@missing.x == 1 OR payload@n == 1', true],
    ['payload@n == 1 AND payload@missing.x == 1', false],
    ['memory@anything EXISTS', false],
    ['profile@constructor EXISTS', false],
    ['profile@toString EXISTS', false],
    ['profile@__proto__ EXISTS', false],
  ])('%s → %s', (condition, expected) => expect(check(condition, context)).toBe(expected));
});

describe('text and list operators', () => {
  it.each([
    ['payload@s CONTAINS "lo w"', true],
    ['payload@list CONTAINS "x"', true],
    ['payload@list CONTAINS 1.0', true],
    ['payload@s STARTS WITH "Hell"', true],
    ['payload@s ENDS WITH "world"', true],
    ['payload@list STARTS WITH 1', true],
    ['payload@list ENDS WITH "x"', true],
    ['payload@empty STARTS WITH 1', false],
    ['payload@s NOT CONTAINS "zzz"', true],
    ['payload@s IN ["a", "Hello world"]', true],
    ['payload@s NOT IN ["a"]', true],
    ['payload@obj EMPTY', false],
    ['payload@empty EMPTY', true],
    ['payload@nil NOT EMPTY', false],
  ])('%s → %s', (condition, expected) => expect(check(condition, context)).toBe(expected));

  it('is false with a warning where the type makes the operator meaningless', () => {
    expect(check('payload@n CONTAINS 1', context)).toBe(false);
    expect(warningsOf('payload@n CONTAINS 1', context)[0]).toMatch(/CONTAINS does not apply to number/);
    expect(warningsOf('payload@s CONTAINS 1', context)).toHaveLength(1);
    expect(warningsOf('payload@s > 1', context)[0]).toMatch(/cannot order string/);
    expect(warningsOf('payload@missing > 1', context)).toEqual([]);
    expect(warningsOf('payload@n == 1', context)).toEqual([]);
  });
});

describe('logic', () => {
  it('binds AND tighter than OR', () => {
    expect(check('payload@n == 2 AND payload@n == 2 OR payload@n == 1', context)).toBe(true);
    expect(check('payload@n == 1 OR payload@n == 2 AND payload@n == 2', context)).toBe(true);
    expect(check('(payload@n == 1 OR payload@n == 2) AND payload@n == 2', context)).toBe(false);
  });

  it('negates with NOT', () => {
    expect(check('NOT payload@n == 1', context)).toBe(false);
    expect(check('NOT (payload@n == 2 OR payload@s CONTAINS "x")', context)).toBe(true);
  });
});

describe('functions', () => {
  it.each([
    ['datetime(payload@date) == datetime("2021-01-10T00:00:00Z")', true],
    ['datetime(payload@date) < datetime("2021-01-10 00:00:00.000001")', true],
    ['datetime("2021-01-10T01:00:00+01:00") == datetime(payload@date)', true],
    ['datetime.offset(payload@date, "1d") == datetime("2021-01-11")', true],
    ['datetime.offset(payload@date, 1d) == datetime("2021-01-11")', true],
    ['datetime.offset(payload@date, "-1d 12h") == datetime("2021-01-08T12:00:00Z")', true],
    ['datetime.from_timestamp(payload@ts) == datetime("2022-04-26T12:30:27Z")', true],
    ['datetime(payload@ts) == datetime.from_timestamp(payload@ts)', true],
    ['datetime.timezone(payload@date, "Europe/Warsaw") == datetime("2021-01-09T23:00:00Z")', true],
    ['datetime.timezone("2021-07-01 12:00", "europe/warsaw") == datetime("2021-07-01T10:00:00Z")', true],
    ['now() == datetime("2024-06-01T12:00:00Z")', true],
    ['utcnow() == now("Europe/Paris")', true],
    ['now.offset("-1h") == datetime("2024-06-01T11:00:00Z")', true],
    ['now.timezone.offset("UTC", "+30m") > now.timezone("UTC")', true],
    ['lowercase(payload@s) == "hello world"', true],
    ['uppercase(payload@s) == "HELLO WORLD"', true],
  ])('%s → %s', (condition, expected) => expect(check(condition, context)).toBe(expected));

  it('turns unusable arguments into a false comparison with a warning', () => {
    for (const condition of [
      'datetime("2021-02-30") < now()',
      'datetime(payload@nil) < now()',
      'datetime(payload@missing) < now()',
      'now("Mars/Olympus") < now()',
      'datetime.offset(payload@date, "soon") < now()',
      'lowercase(payload@n) == "1"',
    ]) {
      const { result, warnings } = compileCondition(condition, { now: CLOCK }).evaluateWithWarnings(context);
      expect(result, condition).toBe(false);
      expect(warnings.length, condition).toBeGreaterThan(0);
    }
  });

  it('reads the injected clock once per evaluation', () => {
    let reads = 0;
    const clock = () => new Date(Date.UTC(2024, 0, 1, 0, 0, 0, reads++));
    const compiled = compileCondition('now() == now() AND now.offset("1s") > now()', { now: clock });
    expect(compiled.evaluate({})).toBe(true);
    expect(reads).toBe(1);
    compiled.evaluate({});
    expect(reads).toBe(2);
  });

  it('treats Date objects in the context as date-times', () => {
    expect(check('datetime(profile@created) < now()', { profile: { created: new Date('2020-01-01') } })).toBe(true);
  });
});

describe('compiled condition', () => {
  it('lists the fields it reads', () => {
    const compiled = compileCondition(
      'profile@traits["first name"] == "a" AND datetime(event@metadata.time.insert) < now() OR profile@traits["first name"] EXISTS',
    );
    expect(compiled.fields).toEqual(['profile@traits["first name"]', 'event@metadata.time.insert']);
  });

  it('evaluates many contexts with one compilation', () => {
    const compiled = compileCondition('profile@traits.age >= 18');
    const results = [10, 18, 40].map((age) => compiled.evaluate({ profile: { traits: { age } } }));
    expect(results).toEqual([false, true, true]);
  });
});
