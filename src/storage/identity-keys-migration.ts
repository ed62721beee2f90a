/**
 * Identity keys of profiles that never claimed theirs: those stored before identity keys existed
 * (migration 0018) and those an import stored before imports claimed them. Without a key, a later event carrying the same email
 * cannot find the profile. A value another profile holds already stays with it: this claims, it
 * never merges.
 */
import type { IdentitySettings } from '../identity/keys.js';
import type { DataMigration } from './data-migrations.js';
import { claimUnheldKeys } from './sql-identity.js';

export function identityKeysMigration(settings: IdentitySettings): DataMigration {
  return {
    name: 'identity-keys',
    count: async (tx) => Number((await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM profiles'))[0]!.n),
    async migrate(tx, after, limit) {
      const profiles = await tx.query<{ id: string; traits: unknown; pii: unknown; data: unknown }>(
        `SELECT id, traits, pii, data FROM profiles WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2`,
        [after, limit],
      );
      await claimUnheldKeys(tx, settings, profiles);
      return { last: profiles.at(-1)?.id ?? null, items: profiles.length, errors: 0 };
    },
  };
}
