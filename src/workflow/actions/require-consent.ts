import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { branch, TRUE_FALSE } from './support.js';

/** A consent holds when granted and not revoked yet (`revoke` is null or a later time). */
function holds(consents: Record<string, unknown>, id: string, now: Date): boolean {
  const consent = consents[id];
  if (consent === null || typeof consent !== 'object') return false;
  const revoke = (consent as Record<string, unknown>)['revoke'];
  return revoke === null || revoke === undefined || new Date(String(revoke)).getTime() > now.getTime();
}

export const requireConsent = defineAction<{ consents: string[]; all: boolean }>({
  id: 'require-consent',
  name: 'Require consent',
  description: 'Takes `true` when the profile holds the consents (all of them, or any), else `false`.',
  group: 'profile',
  local: true,
  configSchema: Type.Object({
    consents: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Consent type ids' }),
    all: Type.Boolean({ default: true, description: 'Require all of them (else any one)' }),
  }),
  outputs: TRUE_FALSE,
  run: (input, config, context) => {
    const consents = (context.run.profile?.['consents'] ?? {}) as Record<string, unknown>;
    const now = context.now();
    const check = (id: string) => holds(consents, id, now);
    return branch(config.all ? config.consents.every(check) : config.consents.some(check), input);
  },
});
