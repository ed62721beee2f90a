import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { changeTarget, passOn, PAYLOAD, resolveValue, TargetPath, targetProblems, ValueTemplate } from './support.js';

export const appendValue = defineAction<{ target: string; value: unknown; unique: boolean }>({
  id: 'append-value',
  name: 'Append to list',
  description: 'Appends a value (a list appends each item) to a list; a single value becomes a list.',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    target: TargetPath('The list'),
    value: ValueTemplate('What to append: a value, a dot path or a template'),
    unique: Type.Boolean({ default: false, description: 'Skip values already in the list' }),
  }),
  outputs: PAYLOAD,
  check: (config) => targetProblems('target', config.target),
  run: (_input, config, context) => {
    const value = resolveValue(config.value, context.run);
    const values = Array.isArray(value) ? value : [value];
    changeTarget(context, config.target, (path) => ({ op: 'append', path, values, unique: config.unique }));
    return passOn(context.run.payload);
  },
});
