import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';

export const end = defineAction({
  id: 'end',
  name: 'End',
  description: 'Ends this branch; other branches go on.',
  group: 'flow',
  local: true,
  configSchema: Type.Object({}),
  outputs: [],
  run: () => ({ ports: {} }),
});
