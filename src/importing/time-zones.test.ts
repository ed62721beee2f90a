import { describe, expect, it } from 'vitest';
import { timeZoneProblem, zonedInstant } from './time-zones.js';

/** The instant a wall time (`2024-03-31T02:30:00`) of a zone is, as ISO in UTC. */
const at = (wall: string, timeZone: string) => new Date(zonedInstant(Date.parse(`${wall}Z`), timeZone)).toISOString();

describe('zonedInstant', () => {
  it('reads a wall time at the offset its zone has then, summer and winter', () => {
    expect(at('2024-01-15T12:00:00', 'Europe/Warsaw')).toBe('2024-01-15T11:00:00.000Z');
    expect(at('2024-07-15T12:00:00', 'Europe/Warsaw')).toBe('2024-07-15T10:00:00.000Z');
    expect(at('2024-07-15T12:00:00', 'America/New_York')).toBe('2024-07-15T16:00:00.000Z');
    expect(at('2024-07-15T12:00:00', 'Australia/Sydney')).toBe('2024-07-15T02:00:00.000Z');
    expect(at('2024-01-15T12:00:00.250', 'Asia/Kathmandu')).toBe('2024-01-15T06:15:00.250Z');
    expect(at('2024-07-15T12:00:00', 'UTC')).toBe('2024-07-15T12:00:00.000Z');
  });

  it('moves a wall time a clock change skips forward by the gap, as Temporal does', () => {
    // Warsaw, 31 March 2024: 02:00 CET became 03:00 CEST; 02:30 never was.
    expect(at('2024-03-31T01:59:59', 'Europe/Warsaw')).toBe('2024-03-31T00:59:59.000Z');
    expect(at('2024-03-31T02:00:00', 'Europe/Warsaw')).toBe('2024-03-31T01:00:00.000Z');
    expect(at('2024-03-31T02:30:00', 'Europe/Warsaw')).toBe('2024-03-31T01:30:00.000Z');
    expect(at('2024-03-31T03:00:00', 'Europe/Warsaw')).toBe('2024-03-31T01:00:00.000Z');
    expect(at('2024-03-10T02:30:00', 'America/New_York')).toBe('2024-03-10T07:30:00.000Z');
  });

  it('takes the earlier of the two instants a wall time shown twice is, as Temporal does', () => {
    // Warsaw, 27 October 2024: 03:00 CEST became 02:00 CET; 02:30 was twice, at 00:30 and 01:30 UTC.
    expect(at('2024-10-27T02:30:00', 'Europe/Warsaw')).toBe('2024-10-27T00:30:00.000Z');
    expect(at('2024-10-27T01:59:59', 'Europe/Warsaw')).toBe('2024-10-26T23:59:59.000Z');
    expect(at('2024-10-27T03:00:00', 'Europe/Warsaw')).toBe('2024-10-27T02:00:00.000Z');
    expect(at('2024-11-03T01:30:00', 'America/New_York')).toBe('2024-11-03T05:30:00.000Z');
    // Sydney goes back in April, from UTC+11 to UTC+10.
    expect(at('2024-04-07T02:30:00', 'Australia/Sydney')).toBe('2024-04-06T15:30:00.000Z');
  });

  it('reads every minute about a change the same asked in any order', () => {
    const walls = Array.from({ length: 240 }, (_, minute) => Date.parse('2024-10-27T00:00:00Z') + minute * 60_000);
    const forward = walls.map((wall) => zonedInstant(wall, 'Europe/Warsaw'));
    const backward = walls.toReversed().map((wall) => zonedInstant(wall, 'Europe/Warsaw'));
    expect(backward.toReversed()).toEqual(forward);
    // Later wall minutes are later instants: the hour shown twice is read the first time it was shown.
    expect(forward.every((instant, at) => at === 0 || instant > forward[at - 1]!)).toBe(true);
  });

  it('reads the years at the ends of what is stored, at the offsets of the time zone database', () => {
    expect(at('9999-12-31T23:59:59', 'Pacific/Kiritimati')).toBe('9999-12-31T09:59:59.000Z');
    // Before standard time, Warsaw kept its local mean time, 1:24 ahead of UTC.
    expect(at('1850-06-01T12:00:00', 'Europe/Warsaw')).toBe('1850-06-01T10:36:00.000Z');
  });
});

describe('timeZoneProblem', () => {
  it('takes the names Intl knows, in any case, and says what is expected of another', () => {
    for (const name of ['Europe/Warsaw', 'europe/warsaw', 'UTC', 'Etc/GMT+5', 'America/Argentina/Buenos_Aires'])
      expect(timeZoneProblem(name)).toBeUndefined();
    expect(timeZoneProblem('Europe/Warszawa')).toBe(
      'unknown time zone "Europe/Warszawa": expected an IANA name such as Europe/Warsaw, America/New_York or UTC',
    );
    expect(timeZoneProblem('')).toContain('unknown time zone ""');
  });
});
