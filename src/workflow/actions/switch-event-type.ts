import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';

const OTHER = 'other';

export const switchEventType = defineAction<{ types: string[] }>({
  id: 'switch-event-type',
  name: 'Switch on event type',
  description: 'Takes the port named after the event’s type when it is listed, else `other`.',
  group: 'flow',
  local: true,
  configSchema: Type.Object({
    types: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true, description: 'Event types' }),
  }),
  outputs: [OTHER],
  portsFor: (config) => [...(Array.isArray(config.types) ? config.types : []), OTHER],
  check: (config) =>
    config.types.includes(OTHER) ? [{ field: 'types', message: `"${OTHER}" is the port for unlisted types` }] : [],
  run: (input, config, context) => {
    const type = context.run.event?.['type'];
    const port = typeof type === 'string' && config.types.includes(type) ? type : OTHER;
    return { ports: { [port]: input } };
  },
});
