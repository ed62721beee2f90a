import { Type } from '@sinclair/typebox';
import { renderObjectTemplate } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { dotContext, PAYLOAD } from './support.js';

export const reshapePayload = defineAction<{ template: Record<string, unknown>; default?: unknown }>({
  id: 'reshape-payload',
  name: 'Reshape payload',
  description:
    'Builds a new payload from an object template: string leaves that are dot paths are replaced by ' +
    'their values; a key ending in ? is left out when its value is missing or empty.',
  group: 'data',
  configSchema: Type.Object({
    template: Type.Record(Type.String(), Type.Unknown(), { description: 'The object template' }),
    default: Type.Optional(Type.Unknown({ description: 'Used for a missing path; without it a missing path fails' })),
  }),
  outputs: PAYLOAD,
  run: (_input, config, context) => ({
    ports: {
      payload: renderObjectTemplate(
        config.template,
        dotContext(context.run),
        'default' in config ? { default: config.default } : {},
      ),
    },
  }),
});
