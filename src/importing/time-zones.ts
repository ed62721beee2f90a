/**
 * Local times of a named time zone (IANA: `Europe/Warsaw`) as instants, with the time zone data the
 * runtime's Intl carries: no dependency of ours. A wall time a clock change skips (a DST gap) or
 * shows twice (an overlap) is resolved as JavaScript's Temporal does by default ("compatible"): in a
 * gap it moves forward by the gap's length (02:30 on the night clocks go from 02:00 to 03:00 is 03:30),
 * in an overlap it is the earlier of the two instants (the first 02:30, still on summer time).
 */

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What is wrong with a time zone's name, if anything: checked when an import is saved. */
export function timeZoneProblem(name: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return undefined;
  } catch {
    return `unknown time zone "${name}": expected an IANA name such as Europe/Warsaw, America/New_York or UTC`;
  }
}

/** A zone's formatter, made once: making one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Milliseconds since the epoch of a wall time read as UTC; setUTCFullYear, unlike Date.UTC, leaves the years 0 to 99 as they are. */
export function wallMillis(year: number, month: number, day: number, hour: number, minute: number, second: number) {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** The zone's offset from UTC at an instant, in milliseconds, as its wall clock showed it then (to the second). */
function exactOffset(instant: number, timeZone: string): number {
  const whole = instant - (((instant % SECOND) + SECOND) % SECOND);
  const parts: Record<string, string> = {};
  for (const { type, value } of formatterOf(timeZone).formatToParts(whole)) parts[type] = value;
  // The year before 1 AD is 1 BC.
  const year = /^B/.test(parts['era'] ?? '') ? 1 - Number(parts['year']) : Number(parts['year']);
  const wall = wallMillis(
    year,
    Number(parts['month']),
    Number(parts['day']),
    Number(parts['hour']),
    Number(parts['minute']),
    Number(parts['second']),
  );
  return wall - whole;
}

/**
 * Offsets by hour of UTC, for an hour the zone's offset holds throughout (null: the clock changed within
 * it, asked of Intl each time): a history's times fall in few hours, and Intl takes microseconds an
 * answer. Bounded: forgotten by the hundred thousand.
 */
const hourOffsets = new Map<string, number | null>();

function offsetAt(instant: number, timeZone: string): number {
  const hour = Math.floor(instant / HOUR);
  const key = `${timeZone}\u0000${hour}`;
  let offset = hourOffsets.get(key);
  if (offset === undefined) {
    const [first, last] = [exactOffset(hour * HOUR, timeZone), exactOffset((hour + 1) * HOUR - SECOND, timeZone)];
    offset = first === last ? first : null;
    if (hourOffsets.size >= 100_000) hourOffsets.clear();
    hourOffsets.set(key, offset);
  }
  return offset ?? exactOffset(instant, timeZone);
}

/**
 * The instant a wall time of a time zone is (`wall`: the wall time's milliseconds read as UTC), gaps and
 * overlaps resolved as the module says. A clock changes at most once within the day either side of it:
 * the offsets a day before and a day after are the ones it may be in.
 */
export function zonedInstant(wall: number, timeZone: string): number {
  const before = offsetAt(wall - DAY, timeZone);
  const after = offsetAt(wall + DAY, timeZone);
  const shows = (offset: number) => offsetAt(wall - offset, timeZone) === offset;
  const instants = [before, after].filter(shows).map((offset) => wall - offset);
  // None: a gap, crossed on the offset before it, so the time moves forward by the gap's length.
  return instants.length === 0 ? wall - before : Math.min(...instants);
}
