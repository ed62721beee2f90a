import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';

export const stop = defineAction({
  id: 'stop',
  name: 'Stop',
  description: 'Ends the whole run here, successfully: no other branch goes on.',
  group: 'flow',
  local: true,
  configSchema: Type.Object({}),
  outputs: [],
  run: (_input, _config, context) => {
    context.stop();
    return { ports: {} };
  },
});
