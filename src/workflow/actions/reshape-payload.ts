import { Type } from '@sinclair/typebox';
import { renderObjectTemplate } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { dotContext, MissingDefault, missingOptions, PAYLOAD } from './support.js';

export const reshapePayload = defineAction<{ template: Record<string, unknown>; default?: unknown }>({
  id: 'reshape-payload',
  name: 'Reshape payload',
  description:
    'Builds a new payload from an object template: string leaves that are dot paths are replaced by ' +
    'their values; a key ending in ? is left out when its value is missing or empty.',
  group: 'data',
  local: true,
  configSchema: Type.Object({
    template: Type.Record(Type.String(), Type.Unknown(), { description: 'The object template' }),
    default: MissingDefault,
  }),
  outputs: PAYLOAD,
  run: (_input, config, context) => ({
    ports: {
      payload: renderObjectTemplate(config.template, dotContext(context.run), missingOptions(config)),
    },
  }),
});
