/**
 * Reading a path out of a JSON document: the one rule set shared by conditions, dot notation and
 * templates, and mirrored by the SQL compiler (PostgreSQL's `#>` operator).
 */
import { MISSING, type Missing } from './values.js';

/** Keys that would reach into Object.prototype are never followed or written. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const INTEGER_TEXT = /^-?\d{1,9}$/;

/**
 * A list index as PostgreSQL's `#>` reads it: an integer, negative counting from the end.
 * Longer digit strings are treated as object keys only, so a list lookup with them is missing.
 */
export function listIndexOf(segment: string): number | undefined {
  return INTEGER_TEXT.test(segment) ? Number(segment) : undefined;
}

export type PathReader = (root: unknown) => unknown | Missing;

type Step = (current: unknown) => unknown | Missing;

/**
 * One step down, compiled per segment. A plain property read is much faster than Object.hasOwn;
 * JSON never holds functions, so a function result can only be an inherited method: missing.
 */
function compileStep(key: string): Step {
  const index = listIndexOf(key);
  if (index === undefined && key !== 'length') {
    // Lists have no such property (only numeric keys and `length`), so no list check is needed.
    return (current) => {
      if (current === null || typeof current !== 'object') return MISSING;
      const value = (current as Record<string, unknown>)[key];
      return value === undefined || typeof value === 'function' ? MISSING : value;
    };
  }
  return (current) => {
    if (current === null || typeof current !== 'object') return MISSING;
    if (Array.isArray(current)) {
      if (index === undefined) return MISSING;
      const at = index < 0 ? current.length + index : index;
      return at >= 0 && at < current.length ? current[at] : MISSING;
    }
    const value = (current as Record<string, unknown>)[key];
    return value === undefined || typeof value === 'function' ? MISSING : value;
  };
}

/** Compiles a path once into a reader; `undefined` values read as missing. */
export function compilePathReader(path: readonly string[]): PathReader {
  if (path.some((key) => FORBIDDEN_KEYS.has(key))) return () => MISSING;
  const steps = path.map(compileStep);
  if (steps.length === 0) return (root) => (root === undefined ? MISSING : root);
  if (steps.length === 1) return steps[0]!;
  if (steps.length === 2) {
    const [first, second] = steps as [Step, Step];
    return (root) => {
      const middle = first(root);
      return middle === MISSING ? MISSING : second(middle);
    };
  }
  return (root) => {
    let current: unknown = root;
    for (let i = 0; i < steps.length; i++) {
      current = steps[i]!(current);
      if (current === MISSING) return MISSING;
    }
    return current;
  };
}

export function readPath(root: unknown, path: readonly string[]): unknown | Missing {
  return compilePathReader(path)(root);
}

const PLAIN_KEY = /^[\p{L}\p{N}_$-]+$/u;

/** Renders a path back into condition syntax: plain keys dotted, any other key bracket-quoted. */
export function formatPath(path: readonly string[]): string {
  let text = '';
  for (const key of path) {
    if (PLAIN_KEY.test(key)) text += (text ? '.' : '') + key;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}

/**
 * Splits a dot-notation path (the part after `source@`) leniently, as Tracardi does: dots separate
 * keys, `["..."]` quotes a key that contains dots or spaces, `[n]` is a list index, and `...` alone
 * means the whole object. Returns undefined for an unterminated bracket.
 */
export function splitDotPath(text: string): string[] | undefined {
  if (text === '' || text === '...') return [];
  const keys: string[] = [];
  let current = '';
  let afterBracket = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '.') {
      if (!afterBracket) keys.push(current);
      current = '';
      afterBracket = false;
    } else if (char === '[') {
      if (current !== '') keys.push(current);
      const closing = readBracket(text, i);
      if (!closing) return undefined;
      keys.push(closing.key);
      i = closing.end - 1;
      current = '';
      afterBracket = true;
    } else {
      current += char;
      afterBracket = false;
    }
  }
  if (!afterBracket) keys.push(current);
  return keys;
}

/** Reads `["key"]` or `[123]` starting at `start` (the `[`); returns the key and the index after `]`. */
export function readBracket(text: string, start: number): { key: string; end: number } | undefined {
  let i = start + 1;
  if (text[i] === '"' || text[i] === "'") {
    const quoted = readQuoted(text, i);
    if (!quoted || text[quoted.end] !== ']') return undefined;
    return { key: quoted.value, end: quoted.end + 1 };
  }
  let digits = '';
  while (i < text.length && text[i]! >= '0' && text[i]! <= '9') digits += text[i++];
  if (digits === '' || text[i] !== ']') return undefined;
  return { key: digits, end: i + 1 };
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '/': '/' };

/** Reads a quoted string with JSON-like escapes starting at the opening quote. */
export function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start]!;
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i]!;
    if (char === quote) return { value, end: i + 1 };
    if (char !== '\\') {
      value += char;
      continue;
    }
    const next = text[++i];
    if (next === undefined) return undefined;
    if (next === 'u') {
      const hex = text.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
      value += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else {
      value += ESCAPES[next] ?? next;
    }
  }
  return undefined;
}
