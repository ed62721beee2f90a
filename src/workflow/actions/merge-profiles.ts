import { Type } from '@sinclair/typebox';
import { parseDotPath } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD } from './support.js';

export const mergeProfiles = defineAction<{ keys: string[] }>({
  id: 'merge-profiles',
  name: 'Merge profiles',
  description: 'Merges the profile with the others that share the values of these identity keys.',
  group: 'profile',
  configSchema: Type.Object({
    keys: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Profile fields that identify a person: profile@pii.email',
    }),
  }),
  outputs: PAYLOAD,
  check: (config) =>
    config.keys.flatMap((key, index) => {
      const parsed = parseDotPath(key);
      return parsed?.source === 'profile' && parsed.path.length > 0
        ? []
        : [{ field: `keys[${index}]`, message: `${JSON.stringify(key)} is not a profile field (profile@pii.email)` }];
    }),
  run: (input, config, context) => {
    context.emit({ kind: 'merge', keys: config.keys.map((key) => key.slice(key.indexOf('@') + 1)) });
    return passOn(input);
  },
});
