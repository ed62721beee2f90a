import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { changeTarget, passOn, PAYLOAD, resolveValue, TargetPath, targetProblems, ValueTemplate } from './support.js';

export const removeValue = defineAction<{ target: string; value: unknown }>({
  id: 'remove-value',
  name: 'Remove from list',
  description: 'Removes every occurrence of a value (a list removes each item) from a list.',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    target: TargetPath('The list'),
    value: ValueTemplate('What to remove: a value, a dot path or a template'),
  }),
  outputs: PAYLOAD,
  check: (config) => targetProblems('target', config.target),
  run: (_input, config, context) => {
    const value = resolveValue(config.value, context.run);
    const values = Array.isArray(value) ? value : [value];
    changeTarget(context, config.target, (path) => ({ op: 'remove', path, values }));
    return passOn(context.run.payload);
  },
});
