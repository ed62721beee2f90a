import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { MissingDefault, missingOptions, passOn, PAYLOAD, resolveValue, ValueTemplate } from './support.js';

export const createResponse = defineAction<{ key: string; body: unknown; default?: unknown }>({
  id: 'create-response',
  name: 'Create response',
  description: 'Puts a value under a key of the `/track` answer’s `response`.',
  group: 'response',
  local: true,
  configSchema: Type.Object({
    key: Type.String({ minLength: 1, description: 'The key in the response' }),
    body: ValueTemplate('The value: an object template, a dot path or a string template'),
    default: MissingDefault,
  }),
  outputs: PAYLOAD,
  answersClient: true,
  run: (input, config, context) => {
    context.response[config.key] = resolveValue(config.body, context.run, missingOptions(config));
    return passOn(input);
  },
});
