import { describe, expect, it } from 'vitest';
import { DateMathError, parseDateMath, parseDateRange, resolveDateMath, resolveDateRange } from './date-math.js';

const NOW = new Date('2026-03-15T10:37:42.123Z');
const resolve = (text: string, roundUp = false) => resolveDateMath(parseDateMath(text), NOW, roundUp).toISOString();

describe('date math', () => {
  it.each([
    ['now', '2026-03-15T10:37:42.123Z'],
    ['now-1h', '2026-03-15T09:37:42.123Z'],
    ['now-15m', '2026-03-15T10:22:42.123Z'],
    ['now+90s', '2026-03-15T10:39:12.123Z'],
    ['now-1d/d', '2026-03-14T00:00:00.000Z'],
    ['now/h', '2026-03-15T10:00:00.000Z'],
    ['now-1M', '2026-02-15T10:37:42.123Z'],
    ['now-1y/y', '2025-01-01T00:00:00.000Z'],
    ['now/w', '2026-03-09T00:00:00.000Z'],
    ['now-2H', '2026-03-15T08:37:42.123Z'],
    ['2024-05-01T12:00:00Z', '2024-05-01T12:00:00.000Z'],
    ['2024-05-01T12:00:00', '2024-05-01T12:00:00.000Z'],
    ['2024-05-01T12:00:00+02:00', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01', '2024-05-01T00:00:00.000Z'],
    ['2024-05-01||+1M/M', '2024-06-01T00:00:00.000Z'],
    // Months and years keep the day where the month has it, else take its last, as java.time does.
    ['2024-01-31||+1M', '2024-02-29T00:00:00.000Z'],
    ['2024-03-31T12:00:00Z||-1M', '2024-02-29T12:00:00.000Z'],
    ['2024-02-29||+1y', '2025-02-28T00:00:00.000Z'],
    ['2024-12-31||+2M', '2025-02-28T00:00:00.000Z'],
    ['2024-01-15||-13M', '2022-12-15T00:00:00.000Z'],
    // Years 0–99 are themselves (Date.UTC would read them as 1900–1999); year 0 is a leap year.
    ['0050-06-15||/d', '0050-06-15T00:00:00.000Z'],
    ['0000-02-29||+1y', '0001-02-28T00:00:00.000Z'],
  ])('resolves %s', (text, expected) => {
    expect(resolve(text)).toBe(expected);
  });

  it('rounds an upper bound up to the last millisecond of the unit', () => {
    expect(resolve('now/d', true)).toBe('2026-03-15T23:59:59.999Z');
    expect(resolve('now-1h', true)).toBe('2026-03-15T09:37:42.123Z');
  });

  it('fills in what an upper bound leaves out with its last millisecond, as an Elasticsearch lte does', () => {
    expect(resolve('2024-05-02', true)).toBe('2024-05-02T23:59:59.999Z');
    expect(resolve('2024-05-02T10:15', true)).toBe('2024-05-02T10:15:59.999Z');
    expect(resolve('2024-05-02T10:15:30', true)).toBe('2024-05-02T10:15:30.999Z');
    expect(resolve('2024-05-02T10:15:30.250Z', true)).toBe('2024-05-02T10:15:30.250Z');
    expect(resolve('2024-05-02||+1d', true)).toBe('2024-05-03T23:59:59.999Z');
    expect(resolve('2024-05-02', false)).toBe('2024-05-02T00:00:00.000Z');
    expect(resolve('0050-06-15', true)).toBe('0050-06-15T23:59:59.999Z');
  });

  it('refuses a result outside the dates it can represent', () => {
    expect(() => resolve('now-300000y')).toThrow(DateMathError);
    expect(() => resolve('now-300000y')).toThrow(/falls outside the dates/);
  });

  it.each([
    ['now-1x', /unknown unit "x"/],
    ['now-h', /cannot read "-h"/],
    ['yesterday', /neither "now" nor an ISO date/],
    ['2024-13-45', /not a valid date: month 13/],
    ['2024-02-30T00:00:00Z', /not a valid date: day 30 is not within 1\.\.29/],
    ['2023-02-29', /not a valid date: day 29 is not within 1\.\.28/],
    ['2024-04-31', /day 31/],
    ['2024-05-01T24:00:00Z', /hour 24/],
    ['2024-05-01T10:60', /minute 60/],
    ['', /empty/],
  ])('rejects %j', (text, message) => {
    expect(() => parseDateMath(text)).toThrow(DateMathError);
    expect(() => parseDateMath(text)).toThrow(message);
  });
});

describe('date ranges (FROM|TO)', () => {
  it('splits on a single bar, not on the || of anchored date math', () => {
    const range = resolveDateRange(parseDateRange('2024-05-01||-1d|2024-05-01||+1d'), NOW);
    expect(range).toEqual({ from: new Date('2024-04-30T00:00:00Z'), to: new Date('2024-05-02T23:59:59.999Z') });
  });

  it('resolves now-1d/d|now/d to yesterday and today, whole days', () => {
    const range = resolveDateRange(parseDateRange('now-1d/d|now/d'), NOW);
    expect(range.from.toISOString()).toBe('2026-03-14T00:00:00.000Z');
    expect(range.to.toISOString()).toBe('2026-03-15T23:59:59.999Z');
  });

  it.each([
    ['now-1h', /expected FROM\|TO/],
    ['now-1h|now|now', /expected FROM\|TO/],
    ['now-1q|now', /^FROM part "now-1q": unknown unit "q"/],
    ['now-1h|later', /^TO part "later"/],
    ['now-1h|2024-02-30', /^TO part "2024-02-30": "2024-02-30" is not a valid date/],
  ])('names the offending part of %j', (text, message) => {
    expect(() => parseDateRange(text)).toThrow(message);
  });
});
