import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD, resolveValue, ValueTemplate } from './support.js';

export const writeMemory = defineAction<{ key: string; value: unknown }>({
  id: 'write-memory',
  name: 'Write flow memory',
  description: 'Keeps a value under a key for the rest of the run (read it as memory@key).',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    key: Type.String({ minLength: 1, description: 'The key' }),
    value: ValueTemplate('The value, a dot path to copy or a template'),
  }),
  outputs: PAYLOAD,
  run: (input, config, context) => {
    context.run.memory[config.key] = resolveValue(config.value, context.run);
    return passOn(input);
  },
});
