import { describe, expect, it } from 'vitest';
import { ConditionSyntaxError } from './errors.js';
import { MAX_CONDITION_LENGTH } from './lexer.js';
import { MAX_NESTING_DEPTH, parseCondition } from './parser.js';

function syntaxError(text: string): ConditionSyntaxError {
  try {
    parseCondition(text);
  } catch (error) {
    if (error instanceof ConditionSyntaxError) return error;
    throw error;
  }
  throw new Error(`expected a syntax error for ${text}`);
}

describe('parseCondition', () => {
  it('parses a comparison into a typed tree', () => {
    expect(parseCondition('profile@traits.age >= 18')).toEqual({
      kind: 'compare',
      op: '>=',
      left: { kind: 'field', source: 'profile', path: ['traits', 'age'], position: 0 },
      right: { kind: 'literal', value: 18, position: 22 },
    });
  });

  it('binds AND tighter than OR and accepts a prefix NOT', () => {
    const ast = parseCondition('payload@a == 1 AND payload@b == 2 or not payload@c == 3');
    expect(ast.kind).toBe('or');
    if (ast.kind !== 'or') return;
    expect(ast.operands.map((operand) => operand.kind)).toEqual(['and', 'not']);
  });

  it('normalises operator spellings', () => {
    const ops = ['=', '==', '!=', '=>', '>=', '=<', '<=', '<', '>'].map((op) => {
      const ast = parseCondition(`payload@a ${op} 1`);
      return ast.kind === 'compare' ? ast.op : undefined;
    });
    expect(ops).toEqual(['==', '==', '!=', '>=', '>=', '<=', '<=', '<', '>']);
  });

  it('reads paths with quoted keys, indices and the whole object', () => {
    const path = (text: string) => {
      const ast = parseCondition(`${text} exists`);
      return ast.kind === 'exists' ? ast.field.path : undefined;
    };
    expect(path('payload@A["a b c"].x')).toEqual(['A', 'a b c', 'x']);
    expect(path('payload@a.c.0')).toEqual(['a', 'c', '0']);
    expect(path('payload@a[2]')).toEqual(['a', '2']);
    expect(path('payload@no-value.$id')).toEqual(['no-value', '$id']);
    expect(path('profile@')).toEqual([]);
    expect(path('payload@A["a[\\" b@ c"]')).toEqual(['A', 'a[" b@ c']);
  });

  it('reads values: numbers, durations, strings, constants and lists', () => {
    const value = (text: string) => {
      const ast = parseCondition(`payload@a == ${text}`);
      return ast.kind === 'compare' && ast.right.kind === 'literal' ? ast.right.value : undefined;
    };
    expect(value('.5')).toBe(0.5);
    expect(value('-3')).toBe(-3);
    expect(value('1e3')).toBe(1000);
    expect(value('10m')).toBe(600);
    expect(value('-1h')).toBe(-3600);
    expect(value('1d')).toBe(86400);
    expect(value('"a \\"b\\" \\u00e9"')).toBe('a "b" é');
    expect(value("'single'")).toBe('single');
    expect(value('TRUE')).toBe(true);
    expect(value('Null')).toBe(null);
    expect(value('[1, "a", [true]]')).toEqual([1, 'a', [true]]);
    expect(value('[]')).toEqual([]);
  });

  it('parses every predicate form', () => {
    const kinds = [
      'payload@a BETWEEN 1 AND 2',
      'payload@a IS NULL',
      'payload@a is not null',
      'payload@a EXISTS',
      'payload@a NOT EXISTS',
      'payload@a EMPTY',
      'payload@a NOT EMPTY',
      'payload@a IN [1]',
      'payload@a NOT IN [1]',
      'payload@a CONTAINS "x"',
      'payload@a STARTS WITH "x"',
      'payload@a ends with "x"',
    ].map((text) => parseCondition(text).kind);
    expect(kinds).toEqual([
      'between',
      'isNull',
      'isNotNull',
      'exists',
      'not',
      'empty',
      'not',
      'in',
      'not',
      'contains',
      'startsWith',
      'endsWith',
    ]);
  });

  it('parses function calls with their arity', () => {
    const ast = parseCondition('datetime.offset(payload@a, "-1d") < now.timezone.offset("Europe/Warsaw", "-1h")');
    expect(ast).toMatchObject({
      left: { kind: 'call', name: 'datetime.offset', args: [{ kind: 'field' }, { kind: 'literal', value: '-1d' }] },
      right: { kind: 'call', name: 'now.timezone.offset' },
    });
    expect(syntaxError('now(1, 2) > 1').reason).toContain('takes 0 to 1 argument(s)');
    expect(syntaxError('nope(payload@a) > 1').reason).toContain('Unknown function');
  });

  it('reports position and expectations', () => {
    const missingValue = syntaxError('payload@a.b ==');
    expect(missingValue.position).toBe(14);
    expect(missingValue.expected).toContain('a value');

    const missingOperator = syntaxError('payload@a.b 1');
    expect(missingOperator.position).toBe(12);
    expect(missingOperator.expected).toContain('BETWEEN');

    expect(syntaxError('payload@a.e == test').reason).toContain('strings must be quoted');
    expect(syntaxError('a.b > 1').position).toBe(0);
    expect(syntaxError('payload@... > 1').position).toBe(8);
    expect(syntaxError('payload@a <> 1').position).toBe(10);
    expect(syntaxError('(payload@a == 1').expected).toEqual(['")"']);
    expect(syntaxError('unknown@a == 1').reason).toContain('Unknown source');
    expect(syntaxError('payload@a == "open').reason).toContain('Unterminated');
    expect(syntaxError('payload@a == 1 payload@b').reason).toContain('after the condition');
    expect(syntaxError('now() EXISTS').reason).toContain('EXISTS applies to a field');
    expect(syntaxError('payload@a IN 1').reason).toContain('IN needs a list');
    expect(syntaxError('payload@a == [payload@b]').reason).toContain('List items must be values');
  });

  it('refuses half a surrogate pair in a string or a quoted key, raw or escaped: PostgreSQL cannot hold it', () => {
    const raw = syntaxError('profile@traits.x == "\ud800"');
    expect(raw.reason).toBe('String holds an unpaired surrogate (\\ud800)');
    expect(raw.position).toBe(20);
    expect(syntaxError('profile@traits.x == "a\\udc00b"').reason).toContain('unpaired surrogate (\\udc00)');
    expect(syntaxError('profile@traits["\\ud83d"] EXISTS').reason).toContain('unpaired surrogate');
    expect(syntaxError('profile@traits.x IN ["ok", "\ud800"]').position).toBe(27);
    // A whole pair, raw or escaped, is one character.
    expect(parseCondition('profile@traits.x == "\\ud83d\\ude00"')).toMatchObject({ right: { value: '\u{1F600}' } });
    expect(parseCondition('profile@traits.x == "\u{1F600}"')).toMatchObject({ right: { value: '\u{1F600}' } });
  });

  it('bounds nesting depth and input size', () => {
    const deep = `${'('.repeat(MAX_NESTING_DEPTH + 1)}payload@a == 1${')'.repeat(MAX_NESTING_DEPTH + 1)}`;
    expect(syntaxError(deep).reason).toContain('Nesting deeper');
    expect(() => parseCondition(`${'('.repeat(10)}payload@a == 1${')'.repeat(10)}`)).not.toThrow();
    expect(syntaxError('NOT '.repeat(MAX_NESTING_DEPTH + 1) + 'payload@a == 1').reason).toContain('Nesting deeper');
    expect(syntaxError(`payload@a == ${'['.repeat(100)}`).reason).toContain('Nesting deeper');
    expect(syntaxError(`payload@a == "${'x'.repeat(MAX_CONDITION_LENGTH)}"`).reason).toContain('longer than');
  });
});
