/**
 * Elasticsearch date math, as the reference's RANGE variable (heartbeat, segmentation) and the
 * segmentation job's `--since` are written: `now-1h`, `now-1d/d`, `2024-05-01T00:00:00Z||+1M/M`, or a
 * plain ISO timestamp. All arithmetic and rounding is in UTC.
 * Parsing is separate from resolving so configuration can be checked once, then resolved per run.
 */
export class DateMathError extends Error {
  override name = 'DateMathError';
}

const UNITS = ['y', 'M', 'w', 'd', 'h', 'H', 'm', 's'] as const;
export type DateUnit = (typeof UNITS)[number];

export type DateMathStep = { kind: 'add'; amount: number; unit: DateUnit } | { kind: 'round'; unit: DateUnit };

export interface DateMath {
  /** `now` is the run's clock; a Date is a fixed anchor. */
  anchor: 'now' | Date;
  /**
   * The finest unit the anchor was written to (`d` for a date alone, `m` without seconds, `s` without
   * a fraction): rounding up fills in what is missing, as an Elasticsearch `lte` does.
   */
  anchorUnit?: DateUnit;
  steps: DateMathStep[];
}

export interface DateRange {
  from: DateMath;
  to: DateMath;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const STEP = /^(?:([+-])(\d+)([a-zA-Z])|\/([a-zA-Z]))/;

/** Midnight UTC of a day; unlike Date.UTC, years 0–99 stay themselves rather than becoming 1900–1999. */
function utcDay(year: number, monthIndex: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  return date;
}

const daysInMonth = (year: number, monthIndex: number) => utcDay(year, monthIndex + 1, 0).getUTCDate();

/** Date.parse rolls an impossible date over (Feb 30 → Mar 1); a range bound must say what it was given. */
function checkFields(text: string, [year, month, day, hour, minute, second]: number[]): void {
  const fields: [string, number | undefined, number, number][] = [
    ['month', month, 1, 12],
    ['day', day, 1, daysInMonth(year!, month! - 1)],
    ['hour', hour, 0, 23],
    ['minute', minute, 0, 59],
    ['second', second, 0, 59],
  ];
  for (const [name, value, min, max] of fields) {
    if (value !== undefined && !Number.isNaN(value) && (value < min || value > max)) {
      throw new DateMathError(`"${text}" is not a valid date: ${name} ${value} is not within ${min}..${max}`);
    }
  }
}

function parseAnchor(text: string): { anchor: Date; anchorUnit?: DateUnit } {
  const match = ISO_DATE.exec(text);
  if (!match) throw new DateMathError(`"${text}" is neither "now" nor an ISO date (e.g. 2024-05-01T10:00:00Z)`);
  checkFields(
    text,
    match.slice(1, 7).map((field) => (field === undefined ? NaN : Number(field))),
  );
  const [, , , , hour, , second, fraction, offset] = match;
  // A date-time without an offset would be read as local time by Date.parse; Meridian reads UTC.
  const time = Date.parse(hour !== undefined && offset === undefined ? `${text}Z` : text);
  if (Number.isNaN(time)) throw new DateMathError(`"${text}" is not a valid date`);
  const anchorUnit: DateUnit | undefined =
    hour === undefined ? 'd' : second === undefined ? 'm' : fraction === undefined ? 's' : undefined;
  return anchorUnit === undefined ? { anchor: new Date(time) } : { anchor: new Date(time), anchorUnit };
}

function parseSteps(text: string): DateMathStep[] {
  const steps: DateMathStep[] = [];
  let rest = text;
  while (rest !== '') {
    const match = STEP.exec(rest);
    if (!match) throw new DateMathError(`cannot read "${rest}": expected +N<unit>, -N<unit> or /<unit>`);
    const unit = (match[3] ?? match[4])!;
    if (!(UNITS as readonly string[]).includes(unit)) {
      throw new DateMathError(`unknown unit "${unit}" in "${match[0]}" (expected one of ${UNITS.join(', ')})`);
    }
    steps.push(
      match[4] !== undefined
        ? { kind: 'round', unit: unit as DateUnit }
        : { kind: 'add', amount: Number(match[2]) * (match[1] === '-' ? -1 : 1), unit: unit as DateUnit },
    );
    rest = rest.slice(match[0].length);
  }
  return steps;
}

export function parseDateMath(text: string): DateMath {
  const expression = text.trim();
  if (expression === '') throw new DateMathError('is empty');
  if (expression.startsWith('now')) return { anchor: 'now', steps: parseSteps(expression.slice(3)) };
  const separator = expression.indexOf('||');
  if (separator === -1) return { ...parseAnchor(expression), steps: [] };
  return { ...parseAnchor(expression.slice(0, separator)), steps: parseSteps(expression.slice(separator + 2)) };
}

/** `FROM|TO`; a `||` inside a part (anchor date math) is not the separator. */
export function parseDateRange(text: string): DateRange {
  const parts = text.split(/(?<!\|)\|(?!\|)/);
  if (parts.length !== 2) throw new DateMathError(`expected FROM|TO (e.g. now-1h|now), got "${text}"`);
  const [from, to] = parts as [string, string];
  return { from: parsePart('FROM', from), to: parsePart('TO', to) };
}

function parsePart(name: string, text: string): DateMath {
  try {
    return parseDateMath(text);
  } catch (error) {
    throw new DateMathError(`${name} part "${text}": ${(error as Error).message}`);
  }
}

const FIXED_MS: Partial<Record<DateUnit, number>> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  H: 3_600_000,
  m: 60_000,
  s: 1000,
};

/** Months and years keep the day of the month where it exists, else take the month's last (Jan 31 + 1M = Feb 28/29), as java.time does. */
function add(date: Date, amount: number, unit: DateUnit): Date {
  const fixed = FIXED_MS[unit];
  if (fixed !== undefined) return new Date(date.getTime() + amount * fixed);
  const months = date.getUTCFullYear() * 12 + date.getUTCMonth() + (unit === 'y' ? amount * 12 : amount);
  const year = Math.floor(months / 12);
  const monthIndex = months - year * 12;
  const result = new Date(date);
  result.setUTCFullYear(year, monthIndex, Math.min(date.getUTCDate(), daysInMonth(year, monthIndex)));
  return result;
}

function floor(date: Date, unit: DateUnit): Date {
  const y = date.getUTCFullYear();
  const M = date.getUTCMonth();
  const d = date.getUTCDate();
  switch (unit) {
    case 'y':
      return utcDay(y, 0, 1);
    case 'M':
      return utcDay(y, M, 1);
    case 'w': // ISO weeks start on Monday
      return utcDay(y, M, d - ((date.getUTCDay() + 6) % 7));
    case 'd':
      return utcDay(y, M, d);
    default: {
      const size = FIXED_MS[unit]!;
      return new Date(Math.floor(date.getTime() / size) * size);
    }
  }
}

/**
 * `roundUp` is how Elasticsearch reads the upper bound of an inclusive range: `now/d` as TO means the
 * last millisecond of today, and so does a TO of today's date alone, so the whole day is in range.
 * A result outside the dates JavaScript can represent (±273,790 years) is an error, not an Invalid Date.
 */
export function resolveDateMath(expression: DateMath, now: Date, roundUp = false): Date {
  const { anchor, anchorUnit } = expression;
  let date = anchor === 'now' ? new Date(now) : new Date(anchor);
  if (roundUp && anchorUnit !== undefined) date = lastMillisecondOf(date, anchorUnit);
  for (const step of expression.steps) {
    if (step.kind === 'add') date = add(date, step.amount, step.unit);
    else date = roundUp ? lastMillisecondOf(date, step.unit) : floor(date, step.unit);
  }
  if (Number.isNaN(date.getTime())) throw new DateMathError('falls outside the dates Meridian can represent');
  return date;
}

const lastMillisecondOf = (date: Date, unit: DateUnit) => new Date(add(floor(date, unit), 1, unit).getTime() - 1);

/**
 * Both ends are inclusive, as in an Elasticsearch `gte`/`lte` range, to the millisecond: stored times
 * have microseconds, so a store compares `< to + 1 ms` (see storage's `upToMillisecond`).
 */
export function resolveDateRange(range: DateRange, now: Date): { from: Date; to: Date } {
  return { from: resolvePart('FROM', range.from, now, false), to: resolvePart('TO', range.to, now, true) };
}

function resolvePart(name: string, expression: DateMath, now: Date, roundUp: boolean): Date {
  try {
    return resolveDateMath(expression, now, roundUp);
  } catch (error) {
    throw new DateMathError(`${name} part: ${(error as Error).message}`);
  }
}
