/**
 * Identity keys of profiles that never claimed theirs: those stored before identity keys existed
 * (migration 0018) and those an import set. Without a key, a later event carrying the same email
 * cannot find the profile. A value another profile holds already stays with it: this claims, it
 * never merges.
 */
import { identityKeys, type IdentitySettings } from '../identity/keys.js';
import type { DataMigration } from './data-migrations.js';

export function identityKeysMigration(settings: IdentitySettings): DataMigration {
  return {
    name: 'identity-keys',
    count: async (tx) => Number((await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM profiles'))[0]!.n),
    async migrate(tx, after, limit) {
      const profiles = await tx.query<{ id: string; traits: unknown; pii: unknown; data: unknown }>(
        `SELECT id, traits, pii, data FROM profiles WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2`,
        [after, limit],
      );
      const keys = profiles.flatMap(({ id, traits, pii, data }) =>
        identityKeys({ traits, pii, data }, settings).map((key) => ({ ...key, profile_id: id })),
      );
      if (keys.length > 0)
        await tx.query(
          `INSERT INTO identity_keys (key, value, profile_id)
           SELECT key, value, profile_id FROM jsonb_to_recordset($1::text::jsonb) AS k(key text, value text, profile_id text)
            ORDER BY key, value
           ON CONFLICT (key, value) DO NOTHING`,
          [JSON.stringify(keys)],
        );
      return { last: profiles.at(-1)?.id ?? null, items: profiles.length, errors: 0 };
    },
  };
}
