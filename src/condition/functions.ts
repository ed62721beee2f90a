/**
 * The condition functions. Each returns MISSING (and records a warning) for an argument it cannot
 * use, so that a bad value makes the comparison false instead of raising, as Tracardi would.
 */
import type { FunctionName } from './ast.js';
import { instantFromTimestamp, isKnownTimeZone, parseDateTime, parseDuration } from './datetime.js';
import { Instant, MISSING, describeValue, type RuntimeValue } from './values.js';

export interface FunctionEnv {
  /** The clock; read at most once per evaluation so that now() == now() holds. */
  readonly clock: () => Date;
  now: Instant | undefined;
  warnings: string[] | null;
}

export const MAX_WARNINGS = 20;

export function warn(env: FunctionEnv, message: string): void {
  if (env.warnings && env.warnings.length < MAX_WARNINGS) env.warnings.push(message);
}

function currentInstant(env: FunctionEnv): Instant {
  return (env.now ??= Instant.fromDate(env.clock()));
}

/** Converts a string, a Unix timestamp or a date-time to an instant; naive text is wall time in `zone`. */
export function toInstant(value: RuntimeValue, zone = 'UTC'): Instant | undefined {
  if (value instanceof Instant) return value;
  if (typeof value === 'string') return parseDateTime(value, zone);
  if (typeof value === 'number') return instantFromTimestamp(value);
  return undefined;
}

/** An offset is a duration string ("-1h") or a number of seconds (a duration literal such as -1h). */
export function offsetMilliseconds(value: RuntimeValue): number | undefined {
  if (typeof value === 'string') return parseDuration(value);
  if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1000);
  return undefined;
}

type FunctionImpl = (args: RuntimeValue[], env: FunctionEnv, name: string) => RuntimeValue;

function invalid(env: FunctionEnv, name: string, what: string, value: RuntimeValue): typeof MISSING {
  warn(env, `${name}(): ${what}, got ${describeValue(value)}`);
  return MISSING;
}

function zoneArgument(env: FunctionEnv, name: string, value: RuntimeValue): string | undefined {
  if (typeof value === 'string' && isKnownTimeZone(value)) return value;
  invalid(env, name, 'expected a time zone name such as "Europe/Warsaw"', value);
  return undefined;
}

function shifted(env: FunctionEnv, name: string, instant: Instant, offset: RuntimeValue): RuntimeValue {
  const ms = offsetMilliseconds(offset);
  if (ms === undefined) return invalid(env, name, 'expected an offset such as "-1h"', offset);
  const result = instant.plusMilliseconds(ms);
  return Number.isFinite(result.ms) ? result : MISSING;
}

function dateArgument(env: FunctionEnv, name: string, value: RuntimeValue, zone = 'UTC'): Instant | undefined {
  const instant = toInstant(value, zone);
  if (!instant) invalid(env, name, 'expected an ISO date-time or a Unix timestamp', value);
  return instant;
}

export const FUNCTIONS: Record<FunctionName, FunctionImpl> = {
  now: ([zone], env, name) => (zone === undefined || zoneArgument(env, name, zone) ? currentInstant(env) : MISSING),
  utcnow: (_args, env) => currentInstant(env),
  'now.offset': ([offset], env, name) => shifted(env, name, currentInstant(env), offset!),
  'now.timezone': ([zone], env, name) => (zoneArgument(env, name, zone!) ? currentInstant(env) : MISSING),
  'now.timezone.offset': ([zone, offset], env, name) =>
    zoneArgument(env, name, zone!) ? shifted(env, name, currentInstant(env), offset!) : MISSING,
  datetime: ([value], env, name) => dateArgument(env, name, value!) ?? MISSING,
  'datetime.offset': ([value, offset], env, name) => {
    const instant = dateArgument(env, name, value!);
    return instant ? shifted(env, name, instant, offset!) : MISSING;
  },
  'datetime.timezone': ([value, zone], env, name) => {
    const tz = zoneArgument(env, name, zone!);
    return tz ? (dateArgument(env, name, value!, tz) ?? MISSING) : MISSING;
  },
  'datetime.from_timestamp': ([value], env, name) =>
    (typeof value === 'number' && instantFromTimestamp(value)) ||
    invalid(env, name, 'expected a Unix timestamp', value!),
  lowercase: ([value], env, name) =>
    typeof value === 'string' ? value.toLowerCase() : invalid(env, name, 'expected a string', value!),
  uppercase: ([value], env, name) =>
    typeof value === 'string' ? value.toUpperCase() : invalid(env, name, 'expected a string', value!),
};
