/**
 * Tracardi's own test cases (a peer's suite, copied into test/compat): every case must agree, except the
 * deliberate deviations listed in deviations.ts and documented in docs/conditions.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEVIATIONS } from './deviations.js';
import { DotPathError, isDotPath, readDotPath } from './dot.js';
import { compileCondition, type ConditionContext } from './evaluate.js';
import { renderObjectTemplate } from './template.js';
import { readCompat } from '../../test/support/compat.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

interface ConditionCase {
  id: string;
  condition: string;
  context: ConditionContext;
  expected: boolean | 'error';
  time_dependent?: boolean;
}

const conditionCases = readCompat<ConditionCase[]>('tracardi-condition-cases.json');
const dotCases = readCompat<{
  get: { id: string; context: ConditionContext; path: string; expected: unknown }[];
  validate: { id: string; path: string; expected: boolean }[];
  reshape: {
    id: string;
    context: ConditionContext;
    template: unknown;
    options: Record<string, unknown>;
    expected: unknown;
  }[];
}>('tracardi-dot-notation-cases.json');

const FIXED_CLOCK = () => new Date('2024-06-01T12:00:00Z');

function meridianAnswer(condition: string, context: ConditionContext): boolean | 'error' {
  try {
    return compileCondition(condition, { now: FIXED_CLOCK }).evaluate(context);
  } catch {
    return 'error';
  }
}

describe('Tracardi condition cases', () => {
  it('has the full suite', () => expect(conditionCases).toHaveLength(212));

  for (const testCase of conditionCases) {
    const deviation = DEVIATIONS[testCase.id];
    const expected = deviation ? deviation.meridian : testCase.expected;
    it(`${testCase.id}: ${testCase.condition}${deviation ? ' (deviation)' : ''}`, () => {
      expect(meridianAnswer(testCase.condition, testCase.context)).toBe(expected);
    });
  }

  it('lists only real deviations', () => {
    const byId = new Map(conditionCases.map((c) => [c.id, c]));
    for (const [id, deviation] of Object.entries(DEVIATIONS)) {
      expect(byId.get(id), id).toBeDefined();
      expect(byId.get(id)!.expected, id).not.toBe(deviation.meridian);
    }
  });

  it('documents every deviation in docs/conditions.md', () => {
    const docs = readFileSync(join(repoRoot, 'docs', 'conditions.md'), 'utf8');
    for (const id of Object.keys(DEVIATIONS)) expect(docs, `${id} missing from docs`).toContain(id);
  });
});

describe('Tracardi dot notation cases', () => {
  it('has the full suite', () =>
    expect(dotCases.get.length + dotCases.validate.length + dotCases.reshape.length).toBe(78));

  for (const testCase of dotCases.get) {
    it(`${testCase.id}: read ${testCase.path}`, () => {
      if (isErrorExpectation(testCase.expected)) {
        expect(() => readDotPath(testCase.context, testCase.path)).toThrow(DotPathError);
      } else {
        expect(readDotPath(testCase.context, testCase.path)).toEqual(testCase.expected);
      }
    });
  }

  for (const testCase of dotCases.validate) {
    it(`${testCase.id}: validate ${testCase.path}`, () => expect(isDotPath(testCase.path)).toBe(testCase.expected));
  }

  for (const testCase of dotCases.reshape) {
    it(`${testCase.id}: reshape`, () => {
      const options = {
        ...('default' in testCase.options ? { default: testCase.options.default } : {}),
        ...('include_none' in testCase.options ? { includeNone: testCase.options.include_none as boolean } : {}),
      };
      const render = () => renderObjectTemplate(testCase.template, testCase.context, options);
      if (isErrorExpectation(testCase.expected)) expect(render).toThrow(DotPathError);
      else expect(render()).toEqual(testCase.expected);
    });
  }
});

function isErrorExpectation(expected: unknown): boolean {
  return typeof expected === 'object' && expected !== null && (expected as { error?: unknown }).error === true;
}
