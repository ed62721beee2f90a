import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { changeTarget, passOn, PAYLOAD, resolveValue, TargetPath, targetProblems, ValueTemplate } from './support.js';

export const setValue = defineAction<{ target: string; value: unknown }>({
  id: 'set-value',
  name: 'Set value',
  description:
    'Sets a field to a value: a literal, a dot path to copy (event@properties.id), a string template ' +
    '("Order {{event@properties.id}}") or an object template.',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    target: TargetPath('The field to set'),
    value: ValueTemplate('The value, a dot path to copy or a template'),
  }),
  outputs: PAYLOAD,
  check: (config) => targetProblems('target', config.target),
  run: (_input, config, context) => {
    const value = resolveValue(config.value, context.run);
    changeTarget(context, config.target, (path) => ({ op: 'set', path, value }));
    return passOn(context.run.payload);
  },
});
