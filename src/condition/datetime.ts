/**
 * Date-time parsing and arithmetic for the date functions. The accepted text format is deliberately
 * narrow (ISO-8601, years 1000-9999, up to microseconds, offsets up to ±14:59) so that the SQL
 * compiler can guard PostgreSQL's cast with the very same pattern and never raise a cast error.
 */
import { Instant } from './values.js';

/** Shared verbatim with the SQL compiler (PostgreSQL ARE syntax is compatible). */
export const ISO_DATETIME_PATTERN =
  '^([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])' +
  '([T ]([01][0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9])(\\.([0-9]{1,6}))?)?' +
  '(Z|[+-](0[0-9]|1[0-4])(:?([0-5][0-9]))?)?)?$';
const ISO_DATETIME = new RegExp(ISO_DATETIME_PATTERN);

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Parses an ISO date-time. Text without an offset is wall time in `zone` (UTC by default).
 * Returns undefined for anything else, including impossible dates such as 2021-02-30.
 */
export function parseDateTime(text: string, zone = 'UTC'): Instant | undefined {
  const match = ISO_DATETIME.exec(text);
  if (!match) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (day > daysInMonth(year, month)) return undefined;
  const hour = Number(match[5] ?? 0);
  const minute = Number(match[6] ?? 0);
  const second = Number(match[8] ?? 0);
  const micros = Number((match[10] ?? '').padEnd(6, '0'));
  const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const offset = match[11];
  let utcMs: number | undefined;
  if (offset === undefined) utcMs = zonedWallTimeToUtc(wallMs, zone);
  else if (offset === 'Z') utcMs = wallMs;
  else {
    const sign = offset[0] === '-' ? -1 : 1;
    utcMs = wallMs - sign * (Number(match[12]) * 60 + Number(match[14] ?? 0)) * 60_000;
  }
  if (utcMs === undefined) return undefined;
  return new Instant(utcMs + Math.floor(micros / 1000), micros % 1000);
}

/** Seconds since the epoch; bounded so that PostgreSQL's to_timestamp never overflows. */
export function instantFromTimestamp(seconds: number): Instant | undefined {
  if (!Number.isFinite(seconds) || Math.abs(seconds) >= 1e11) return undefined;
  return Instant.fromMicros(Math.round(seconds * 1e6));
}

export const MAX_TIMESTAMP_SECONDS = 1e11;

const DURATION_UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION_PART = /^(\d+(?:\.\d+)?)\s*([smhdw])/;

/** Parses "-1h", "+30m", "1d 2h", "90s" into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1).trimStart();
  }
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const part = DURATION_PART.exec(rest);
    if (!part) return undefined;
    total += Number(part[1]) * DURATION_UNIT_MS[part[2]!]!;
    rest = rest.slice(part[0].length).trimStart();
  }
  return sign * Math.round(total);
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

/** An Intl formatter for a time zone, or undefined when the zone is unknown. */
function formatterFor(zone: string): Intl.DateTimeFormat | undefined {
  let formatter = zoneFormatters.get(zone);
  if (formatter) return formatter;
  try {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return undefined;
  }
  if (zoneFormatters.size > 500) zoneFormatters.clear();
  zoneFormatters.set(zone, formatter);
  return formatter;
}

export function isKnownTimeZone(zone: string): boolean {
  return formatterFor(zone) !== undefined;
}

/** Offset of `zone` from UTC at the instant `utcMs`, in milliseconds. */
function zoneOffsetAt(formatter: Intl.DateTimeFormat, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(new Date(utcMs))) parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(utcMs / 1000) * 1000;
}

/** The UTC instant at which the wall clock in `zone` shows `wallMs` (read as if it were UTC). */
export function zonedWallTimeToUtc(wallMs: number, zone: string): number | undefined {
  if (zone.toUpperCase() === 'UTC') return wallMs;
  const formatter = formatterFor(zone);
  if (!formatter) return undefined;
  const firstGuess = wallMs - zoneOffsetAt(formatter, wallMs);
  const offset = zoneOffsetAt(formatter, firstGuess);
  return wallMs - offset;
}
