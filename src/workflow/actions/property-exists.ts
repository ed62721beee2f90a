import { Type } from '@sinclair/typebox';
import { isDotPath, readDotPathOr } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { branch, dotContext, TRUE_FALSE } from './support.js';

const MISSING = Symbol('missing');

export const propertyExists = defineAction<{ path: string }>({
  id: 'property-exists',
  name: 'Property exists',
  description: 'Takes `true` when the field exists (even holding null), else `false`.',
  group: 'flow',
  local: true,
  configSchema: Type.Object({ path: Type.String({ minLength: 3, description: 'A dot path: event@properties.id' }) }),
  outputs: TRUE_FALSE,
  check: (config) =>
    isDotPath(config.path) ? [] : [{ field: 'path', message: `${JSON.stringify(config.path)} is not a dot path` }],
  run: (input, config, context) =>
    branch(readDotPathOr(dotContext(context.run), config.path, MISSING) !== MISSING, input),
});
