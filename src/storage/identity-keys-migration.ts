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
      // A statement for the first page and one for the rest: `$1 IS NULL OR id > $1` in one would let a
      // plan PostgreSQL caches for any key read every page from the first profile on.
      const profiles = await tx.query<{ id: string; traits: unknown; pii: unknown; data: unknown }>(
        after === null
          ? 'SELECT id, traits, pii, data FROM profiles ORDER BY id LIMIT $1'
          : 'SELECT id, traits, pii, data FROM profiles WHERE id > $2 ORDER BY id LIMIT $1',
        after === null ? [limit] : [limit, after],
      );
      await claimUnheldKeys(tx, settings, profiles);
      return { last: profiles.at(-1)?.id ?? null, items: profiles.length, errors: 0 };
    },
  };
}
