import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { changeProfile, passOn, PAYLOAD, resolveValue } from './support.js';

export const addConsent = defineAction<{ consent: string; revokeAt?: string }>({
  id: 'add-consent',
  name: 'Add consent',
  description: 'Records that the profile granted a consent, optionally until a time.',
  group: 'profile',
  local: true,
  configSchema: Type.Object({
    consent: Type.String({ minLength: 1, description: 'The consent type id' }),
    revokeAt: Type.Optional(Type.String({ description: 'When it lapses: an ISO time, a dot path or a template' })),
  }),
  outputs: PAYLOAD,
  run: (input, config, context) => {
    let revokeAt: string | undefined;
    if (config.revokeAt !== undefined) {
      const time = new Date(String(resolveValue(config.revokeAt, context.run)));
      if (Number.isNaN(time.getTime())) throw new Error(`${config.revokeAt} is not a time`);
      revokeAt = time.toISOString();
    }
    changeProfile(context, {
      op: 'consent',
      consent: config.consent,
      granted: true,
      ...(revokeAt ? { revokeAt } : {}),
    });
    return passOn(input);
  },
});
