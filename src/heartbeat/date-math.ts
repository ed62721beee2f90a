/**
 * Elasticsearch date math, as the reference's RANGE variable is written: `now-1h`, `now-1d/d`,
 * `2024-05-01T00:00:00Z||+1M/M`, or a plain ISO timestamp. All arithmetic and rounding is in UTC.
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
  steps: DateMathStep[];
}

export interface DateRange {
  from: DateMath;
  to: DateMath;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const STEP = /^(?:([+-])(\d+)([a-zA-Z])|\/([a-zA-Z]))/;

function parseAnchor(text: string): Date {
  const match = ISO_DATE.exec(text);
  if (!match) throw new DateMathError(`"${text}" is neither "now" nor an ISO date (e.g. 2024-05-01T10:00:00Z)`);
  // A date-time without an offset would be read as local time by Date.parse; Meridian reads UTC.
  const hasTime = text.includes('T');
  const time = Date.parse(hasTime && match[1] === undefined ? `${text}Z` : text);
  if (Number.isNaN(time)) throw new DateMathError(`"${text}" is not a valid date`);
  return new Date(time);
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
  if (separator === -1) return { anchor: parseAnchor(expression), steps: [] };
  return { anchor: parseAnchor(expression.slice(0, separator)), steps: parseSteps(expression.slice(separator + 2)) };
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

const FIXED_MS: Partial<Record<DateUnit, number>> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, H: 3_600_000, m: 60_000, s: 1000 };

function add(date: Date, amount: number, unit: DateUnit): Date {
  const result = new Date(date);
  if (unit === 'y') result.setUTCFullYear(result.getUTCFullYear() + amount);
  else if (unit === 'M') result.setUTCMonth(result.getUTCMonth() + amount);
  else result.setTime(result.getTime() + amount * FIXED_MS[unit]!);
  return result;
}

function floor(date: Date, unit: DateUnit): Date {
  const y = date.getUTCFullYear();
  const M = date.getUTCMonth();
  const d = date.getUTCDate();
  switch (unit) {
    case 'y':
      return new Date(Date.UTC(y, 0, 1));
    case 'M':
      return new Date(Date.UTC(y, M, 1));
    case 'w': // ISO weeks start on Monday
      return new Date(Date.UTC(y, M, d - ((date.getUTCDay() + 6) % 7)));
    case 'd':
      return new Date(Date.UTC(y, M, d));
    default: {
      const size = FIXED_MS[unit]!;
      return new Date(Math.floor(date.getTime() / size) * size);
    }
  }
}

/**
 * `roundUp` is how Elasticsearch rounds the upper bound of an inclusive range: `now/d` as TO means
 * the last millisecond of today, so the whole day is in range.
 */
export function resolveDateMath(expression: DateMath, now: Date, roundUp = false): Date {
  let date = expression.anchor === 'now' ? new Date(now) : new Date(expression.anchor);
  for (const step of expression.steps) {
    if (step.kind === 'add') date = add(date, step.amount, step.unit);
    else date = roundUp ? new Date(add(floor(date, step.unit), 1, step.unit).getTime() - 1) : floor(date, step.unit);
  }
  return date;
}

/** Both ends are inclusive, as in an Elasticsearch `gte`/`lte` range. */
export function resolveDateRange(range: DateRange, now: Date): { from: Date; to: Date } {
  return { from: resolveDateMath(range.from, now), to: resolveDateMath(range.to, now, true) };
}
