import type { FieldProblem } from '../shared/errors.js';

/**
 * How deep objects and arrays may nest inside a stored value (an event's `properties`, `context`, …,
 * counted from that field, which is level 1). Deeper documents are refused: nothing real needs them,
 * and every recursive reader downstream (serialisers, mappings, condition evaluation) stays safe.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * What PostgreSQL's text and jsonb refuse: NUL, and a UTF-16 surrogate without its partner (JSON may
 * escape one, `"\ud800"`, but it is not Unicode). With the `u` flag a well-formed pair is one code
 * point, so `\p{Cs}` matches only an unpaired half.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE_CHARACTER = /[\u0000\p{Cs}]/u;

function characterProblem(text: string): string | undefined {
  if (!UNSTORABLE_CHARACTER.test(text)) return undefined;
  return text.includes('\u0000')
    ? 'contains a NUL character (\\u0000), which cannot be stored'
    : 'contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode and cannot be stored';
}

/** A key as it can be shown in a field name: escaped when it holds what cannot be stored. */
const showKey = (key: string) => (UNSTORABLE_CHARACTER.test(key) ? JSON.stringify(key).slice(1, -1) : key);

/**
 * The first thing in `value` that cannot be stored — a bad character in a string or a key, or
 * nesting beyond MAX_NESTING_DEPTH — named by its path under `field`. One walk checks both, and it
 * stops at the depth limit, so a hostile document cannot exhaust the stack.
 */
export function findUnstorable(value: unknown, field: string, depth = 1): FieldProblem | undefined {
  return walk(value, field, depth, true);
}

/** Nesting beyond MAX_NESTING_DEPTH only: for documents that are read (a sample to evaluate), not stored. */
export function findTooDeep(value: unknown, field: string): FieldProblem | undefined {
  return walk(value, field, 1, false);
}

function walk(value: unknown, field: string, depth: number, text: boolean): FieldProblem | undefined {
  if (typeof value === 'string') {
    const message = text ? characterProblem(value) : undefined;
    return message ? { field, message } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_NESTING_DEPTH) {
    return { field, message: `nested deeper than ${MAX_NESTING_DEPTH} levels of objects and arrays` };
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = walk(value[index], `${field}.${index}`, depth + 1, text);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key in value) {
    const message = text ? characterProblem(key) : undefined;
    if (message) return { field: `${field}.${showKey(key)}`, message: `key ${message}` };
    const problem = walk((value as Record<string, unknown>)[key], `${field}.${key}`, depth + 1, text);
    if (problem) return problem;
  }
  return undefined;
}

/** The first unstorable value among an object's named fields (`context`, `session`, …). */
export function findUnstorableField(
  parent: Record<string, unknown>,
  fields: readonly string[],
  prefix = '',
): FieldProblem | undefined {
  for (const name of fields) {
    const problem = findUnstorable(parent[name], `${prefix}${name}`);
    if (problem) return problem;
  }
  return undefined;
}
