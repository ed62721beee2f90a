import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { FieldProblem } from './errors.js';

/**
 * A schema option naming, to follow "expected", what a union accepts:
 * `Type.Union([…], { [EXPECTED]: 'an ISO-8601 date-time or epoch milliseconds' })`. An OpenAPI
 * extension keyword, so the published document stays valid.
 */
export const EXPECTED = 'x-expected';

/** One schema error as a client should read it: where (a JSON pointer) and what was expected. */
export interface SchemaProblem {
  path: string;
  message: string;
}

type JsonKind = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'other';

const kindOf = (value: unknown): JsonKind => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const kind = typeof value;
  return kind === 'boolean' || kind === 'number' || kind === 'string' || kind === 'object' ? kind : 'other';
};

const kindsOf = (schema: TSchema): JsonKind[] => {
  if ('const' in schema) return [kindOf(schema['const'])];
  const type: unknown = schema['type'];
  const types = Array.isArray(type) ? type : [type];
  return types
    .map((name) => (name === 'integer' ? 'number' : name))
    .filter((name): name is JsonKind => typeof name === 'string');
};

const NAMES: Record<JsonKind, string> = {
  null: 'null',
  boolean: 'a boolean',
  number: 'a number',
  string: 'a string',
  array: 'a list',
  object: 'an object',
  other: 'a value',
};

const describeMember = (schema: TSchema): string =>
  'const' in schema
    ? JSON.stringify(schema['const'])
    : kindsOf(schema)
        .map((kind) => NAMES[kind])
        .join(' or ') || 'a value';

function listed(items: string[]): string {
  const unique = [...new Set(items)];
  return unique.length <= 1 ? (unique[0] ?? '') : `${unique.slice(0, -1).join(', ')} or ${unique.at(-1)}`;
}

/**
 * TypeBox answers every failed union with "Expected union value". A union whose value has the JSON
 * type of exactly one member (an object where `{…} | null` is allowed) is explained by that member's
 * own error, which names the deeper field; any other is explained by the union's `x-expected` option
 * (see EXPECTED), or else by listing what its members accept.
 */
export function explainSchemaError(error: ValueError): SchemaProblem {
  if (error.type !== ValueErrorType.Union) return { path: error.path, message: error.message };
  const members: TSchema[] = error.schema['anyOf'] ?? [];
  const kind = kindOf(error.value);
  const sameKind = members.flatMap((member, index) => (kindsOf(member).includes(kind) ? [index] : []));
  if (sameKind.length === 1) {
    const inner = error.errors[sameKind[0]!]?.First();
    if (inner) return explainSchemaError(inner);
  }
  const stated: unknown = error.schema[EXPECTED];
  const expected = typeof stated === 'string' ? stated : listed(members.map(describeMember));
  return { path: error.path, message: `expected ${expected}` };
}

/** JSON-pointer "/properties/price" → "properties.price". */
export function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/** How many fields a refusal names at most: enough to fix a request, not a wall of text. */
const MAX_PROBLEMS = 10;

/**
 * Where a value fails its schema: each field once, with what it expects, at most ten. The value
 * itself (the empty pointer) is called `root`.
 */
export function schemaProblems(checker: TypeCheck<TSchema>, value: unknown, root: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of checker.Errors(value)) {
    const { path, message } = explainSchemaError(error);
    const field = pointerToField(path) || root;
    if (!problems.some((problem) => problem.field === field)) problems.push({ field, message });
    if (problems.length >= MAX_PROBLEMS) break;
  }
  return problems;
}
