import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD } from './support.js';

export const addEventTags = defineAction<{ tags: string[] }>({
  id: 'add-event-tags',
  name: 'Add event tags',
  description: 'Tags the event that started the run.',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    tags: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Tags to add' }),
  }),
  outputs: PAYLOAD,
  run: (input, config, context) => {
    const event = context.run.event;
    if (!event) throw new Error('this run has no event');
    const tags = Array.isArray(event['tags']) ? (event['tags'] as unknown[]) : [];
    event['tags'] = [...new Set([...tags, ...config.tags])];
    context.emit({ kind: 'event-tags', tags: config.tags });
    return passOn(input);
  },
});
