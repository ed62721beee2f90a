/** Random and mutated inputs: the parser answers a tree or a ConditionSyntaxError, quickly, and nothing else. */
import { describe, expect, it } from 'vitest';
import { ConditionNotCompilableError, ConditionSyntaxError } from './errors.js';
import { compileCondition } from './evaluate.js';
import { parseCondition } from './parser.js';
import { compileToSql } from './sql.js';
import { readCompat } from '../../test/support/compat.js';
import { mulberry32 } from '../../test/support/random.js';

const SEED = 7;
const CASES = 4000;
const MAX_LENGTH = 300;

const FRAGMENTS = [
  'profile@',
  'payload@a.b',
  'event@type',
  '["k"]',
  '[0]',
  '.',
  '@',
  ' AND ',
  ' OR ',
  'NOT ',
  '(',
  ')',
  '[',
  ']',
  ',',
  '==',
  '=',
  '!=',
  '>',
  '>=',
  '=>',
  '<',
  '<=',
  '=<',
  '<>',
  '"',
  '"str"',
  "'",
  '\\',
  '1',
  '-2.5',
  '.5',
  '10m',
  '1e9',
  '1e999',
  'true',
  'null',
  'BETWEEN ',
  ' IS ',
  'NULL',
  ' EXISTS',
  ' EMPTY',
  ' CONTAINS ',
  ' STARTS WITH ',
  ' ENDS WITH ',
  ' IN ',
  'now(',
  'datetime.offset(',
  'lowercase(',
  'x',
  '\u0000',
  '😀',
  '\n',
  '  ',
];

/** Tracardi's own conditions, mutated: inputs close to what users write. */
const SEED_CONDITIONS = readCompat<{ condition: string }[]>('tracardi-condition-cases.json').map((c) => c.condition);

function generate(random: () => number): string {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  if (random() < 0.5) {
    let text = '';
    const parts = 1 + Math.floor(random() * 20);
    for (let i = 0; i < parts; i++) text += pick(FRAGMENTS);
    return text.slice(0, MAX_LENGTH);
  }
  let text = pick(SEED_CONDITIONS);
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (text.length + 1));
    const roll = random();
    if (roll < 0.33) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 5));
    else if (roll < 0.66) text = text.slice(0, at) + pick(FRAGMENTS) + text.slice(at);
    else text = text.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + text.slice(at + 1);
  }
  return text.slice(0, MAX_LENGTH);
}

describe('parser fuzz', () => {
  it(`survives ${CASES} random and mutated inputs (seed ${SEED})`, () => {
    const random = mulberry32(SEED);
    let parsed = 0;
    const started = performance.now();
    for (let i = 0; i < CASES; i++) {
      const text = generate(random);
      try {
        const ast = parseCondition(text);
        parsed++;
        compileCondition(ast).evaluateWithWarnings({ payload: { a: { b: 1 } }, profile: { id: 'x' } });
        try {
          compileToSql(ast);
        } catch (error) {
          if (!(error instanceof ConditionNotCompilableError)) throw error;
        }
      } catch (error) {
        if (!(error instanceof ConditionSyntaxError)) {
          throw new Error(`input ${JSON.stringify(text)} raised ${(error as Error).stack}`);
        }
        expect(error.position).toBeGreaterThanOrEqual(0);
        expect(error.position).toBeLessThanOrEqual(text.length);
      }
    }
    expect(parsed).toBeGreaterThan(CASES * 0.02);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
