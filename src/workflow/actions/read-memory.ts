import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';

export const readMemory = defineAction<{ key: string }>({
  id: 'read-memory',
  name: 'Read flow memory',
  description: 'Passes on the value kept under a key as the payload, or takes `missing` when there is none.',
  group: 'data',
  local: true,
  configSchema: Type.Object({ key: Type.String({ minLength: 1, description: 'The key' }) }),
  outputs: ['payload', 'missing'],
  run: (input, config, context) =>
    Object.hasOwn(context.run.memory, config.key)
      ? { ports: { payload: context.run.memory[config.key] } }
      : { ports: { missing: input } },
});
