import { describe, expect, it } from 'vitest';
import { instantFromTimestamp, parseDateTime, parseDuration } from './datetime.js';

const iso = (text: string, zone?: string) => parseDateTime(text, zone)?.toIsoString();

describe('parseDateTime', () => {
  it('reads ISO-8601 dates and times, naive text as UTC', () => {
    expect(iso('2021-01-10')).toBe('2021-01-10T00:00:00.000000Z');
    expect(iso('2021-01-10 10:30')).toBe('2021-01-10T10:30:00.000000Z');
    expect(iso('2024-03-28T10:00:00.000001+00:00')).toBe('2024-03-28T10:00:00.000001Z');
    expect(iso('2021-01-10T10:00:00+0130')).toBe('2021-01-10T08:30:00.000000Z');
    expect(iso('2021-01-10T10:00:00-05')).toBe('2021-01-10T15:00:00.000000Z');
    expect(iso('2020-02-29T23:59:59.5Z')).toBe('2020-02-29T23:59:59.500000Z');
  });

  it('reads naive text as wall time in a zone, across daylight saving time', () => {
    expect(iso('2021-01-10 12:00', 'Europe/Warsaw')).toBe('2021-01-10T11:00:00.000000Z');
    expect(iso('2021-07-10 12:00', 'Europe/Warsaw')).toBe('2021-07-10T10:00:00.000000Z');
    expect(iso('2021-07-10T12:00:00Z', 'Europe/Warsaw')).toBe('2021-07-10T12:00:00.000000Z');
  });

  it('refuses impossible or unsupported text', () => {
    for (const text of [
      '2021-02-30',
      '2021-13-01',
      '2021-01-10T24:00',
      '999-01-01',
      '2021-01-10+01:00',
      'Jan 10 2021',
      '2021-01-10T10:00:00.1234567Z',
      '',
    ]) {
      expect(parseDateTime(text), text).toBeUndefined();
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['-1m', -60_000],
    ['+1h', 3_600_000],
    ['1d 2h', 93_600_000],
    ['1.5s', 1500],
    ['2w', 1_209_600_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it('refuses malformed offsets', () => {
    for (const text of ['', '-', '1', '1y', 'soon', '1h x']) expect(parseDuration(text), text).toBeUndefined();
  });
});

describe('instantFromTimestamp', () => {
  it('reads seconds, bounded', () => {
    expect(instantFromTimestamp(1650976227)?.toIsoString()).toBe('2022-04-26T12:30:27.000000Z');
    expect(instantFromTimestamp(1e11)).toBeUndefined();
  });
});
