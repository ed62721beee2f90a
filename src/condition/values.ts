/**
 * The value semantics every operator shares (evaluator and SQL compiler agree on these rules):
 * numbers and booleans compare as numbers (Python's True == 1), strings by code point, date-times by
 * instant; anything else is incomparable. A missing value is its own marker, never undefined.
 */
import type { JsonValue } from './ast.js';

export const MISSING: unique symbol = Symbol('missing');
export type Missing = typeof MISSING;

/** A point in time with microsecond precision (PostgreSQL's timestamptz precision). */
export class Instant {
  constructor(
    /** Milliseconds since the epoch (integral). */
    readonly ms: number,
    /** Extra microseconds, 0..999. */
    readonly us: number = 0,
  ) {}

  static fromDate(date: Date): Instant {
    return new Instant(date.getTime());
  }

  static fromMicros(micros: number): Instant {
    const ms = Math.floor(micros / 1000);
    return new Instant(ms, micros - ms * 1000);
  }

  plusMilliseconds(ms: number): Instant {
    return new Instant(this.ms + ms, this.us);
  }

  compare(other: Instant): -1 | 0 | 1 {
    if (this.ms !== other.ms) return this.ms < other.ms ? -1 : 1;
    if (this.us !== other.us) return this.us < other.us ? -1 : 1;
    return 0;
  }

  /** ISO-8601 in UTC with microseconds, as PostgreSQL parses it. */
  toIsoString(): string {
    return new Date(this.ms).toISOString().replace('Z', String(this.us).padStart(3, '0') + 'Z');
  }

  toJSON(): string {
    return this.toIsoString();
  }
}

export type RuntimeValue = JsonValue | Instant | Missing;

export type ValueKind = 'missing' | 'null' | 'boolean' | 'number' | 'string' | 'list' | 'object' | 'datetime';

export function kindOf(value: unknown): ValueKind {
  if (value === MISSING || value === undefined) return 'missing';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
  }
  if (Array.isArray(value)) return 'list';
  if (value instanceof Instant) return 'datetime';
  return 'object';
}

const isNumeric = (value: unknown): value is number | boolean =>
  typeof value === 'number' || typeof value === 'boolean';

/** A deep copy of a JSON value (objects, arrays, primitives): structuredClone's result, without its serialisation. */
export function copyJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyJson((value as Record<string, unknown>)[key]);
  return copy as T;
}

/** Structural JSON equality: numbers by value, objects regardless of key order, no coercion inside. */
export function deepEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Instant || b instanceof Instant) {
    return a instanceof Instant && b instanceof Instant && a.compare(b) === 0;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEquals(item, b[i]));
  }
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every(
    (key) =>
      Object.hasOwn(b, key) && deepEquals((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

/** One value equals another: booleans and numbers compare numerically, the rest structurally. */
export function valueEquals(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return Number(a) === Number(b);
  return deepEquals(a, b);
}

/** `==`: false when either side is missing; a list on the right means membership (Tracardi). */
export function equalsOrMember(left: unknown, right: unknown): boolean {
  if (left === MISSING || right === MISSING) return false;
  if (Array.isArray(right)) return right.some((item) => valueEquals(left, item));
  return valueEquals(left, right);
}

/** Orders strings by Unicode code point, as PostgreSQL's "C" collation orders UTF-8 bytes. */
export function compareCodePoints(a: string, b: string): -1 | 0 | 1 {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 puts surrogates (astral code points) below U+E000..U+FFFF; code point order does not.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Orders two values, or returns undefined when they are incomparable (or one is missing). */
export function orderOf(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  if (isNumeric(a) && isNumeric(b)) {
    const x = Number(a);
    const y = Number(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (a instanceof Instant && b instanceof Instant) return a.compare(b);
  return undefined;
}

/** EMPTY: missing, null, "", [] or {}. */
export function isEmptyValue(value: unknown): boolean {
  if (value === MISSING || value === null || value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object' && !(value instanceof Instant)) return Object.keys(value).length === 0;
  return false;
}

/** The outcome of a text/list operator: undefined when the operator is meaningless for the types. */
export type Applicability = boolean | undefined;

export function containsValue(haystack: unknown, needle: unknown): Applicability {
  if (typeof haystack === 'string') return typeof needle === 'string' ? haystack.includes(needle) : undefined;
  if (Array.isArray(haystack)) return haystack.some((item) => valueEquals(item, needle));
  return undefined;
}

export function startsWithValue(subject: unknown, prefix: unknown): Applicability {
  if (typeof subject === 'string') return typeof prefix === 'string' ? subject.startsWith(prefix) : undefined;
  if (Array.isArray(subject)) return subject.length > 0 && valueEquals(subject[0], prefix);
  return undefined;
}

export function endsWithValue(subject: unknown, suffix: unknown): Applicability {
  if (typeof subject === 'string') return typeof suffix === 'string' ? subject.endsWith(suffix) : undefined;
  if (Array.isArray(subject)) return subject.length > 0 && valueEquals(subject[subject.length - 1], suffix);
  return undefined;
}

export function describeValue(value: unknown): string {
  const kind = kindOf(value);
  return kind === 'missing' || kind === 'null' ? kind : `${kind} ${JSON.stringify(value)}`.slice(0, 60);
}
