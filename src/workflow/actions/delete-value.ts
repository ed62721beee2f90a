import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { changeTarget, passOn, PAYLOAD, TargetPath, targetProblems } from './support.js';

export const deleteValue = defineAction<{ target: string }>({
  id: 'delete-value',
  name: 'Delete field',
  description: 'Deletes a field (or a list item by index).',
  group: 'data',
  local: true,
  configSchema: Type.Object({ target: TargetPath('The field to delete') }),
  outputs: PAYLOAD,
  check: (config) => targetProblems('target', config.target),
  run: (_input, config, context) => {
    changeTarget(context, config.target, (path) => ({ op: 'delete', path }));
    return passOn(context.run.payload);
  },
});
