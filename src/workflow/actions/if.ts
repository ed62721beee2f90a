import { Type } from '@sinclair/typebox';
import { compileCondition, type CompiledCondition } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { conditionProblems, dotContext, branch, TRUE_FALSE } from './support.js';

/** Compiled conditions by text: a flow's condition is compiled once, not once per run. */
const compiled = new Map<string, CompiledCondition>();
const MAX_CACHED = 1000;

function conditionOf(text: string): CompiledCondition {
  let condition = compiled.get(text);
  if (!condition) {
    condition = compileCondition(text);
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(text, condition);
  }
  return condition;
}

export const ifAction = defineAction<{ condition: string }>({
  id: 'if',
  name: 'If',
  description: 'Takes `true` or `false` by a condition (profile@traits.age > 18 AND event@type == "purchase").',
  group: 'flow',
  local: true,
  configSchema: Type.Object({ condition: Type.String({ minLength: 1, description: 'A condition' }) }),
  outputs: TRUE_FALSE,
  check: (config) => conditionProblems('condition', config.condition),
  run: (input, config, context) => branch(conditionOf(config.condition).evaluate(dotContext(context.run)), input),
});
