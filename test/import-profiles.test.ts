import { afterEach, describe, expect, it } from 'vitest';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import type { ProfileUpsert } from '../src/importing/rows.js';
import type { Database } from '../src/storage/database.js';
import { SqlImportRecords } from '../src/storage/sql-import-records.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

const PEOPLE = 200;

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`profiles imported by upsert on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    afterEach(async () => {
      await db?.dispose();
    });

    it('stores a batch in a transaction per lane, each profile laid over in row order whatever id or key names it', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(`INSERT INTO profiles (id, ids, traits) VALUES ('kept', '{alias}', '{"tier": "gold"}')`);
      await db.query(`INSERT INTO profiles (id) VALUES ('holder')`);
      await db.query(`INSERT INTO identity_keys (key, value, profile_id) VALUES ('pii.email', 'h@x.org', 'holder')`);
      await db.query(`INSERT INTO segments (id, name, machine_name, condition) VALUES ('any', 'any', 'any', 'true')`);
      const person = (i: number) => `p${i}`;
      // Each person's three rows far apart in the batch, the later rows setting some of the earlier keys again.
      const rows: ProfileUpsert[] = [
        ...Array.from({ length: PEOPLE }, (_, i) => ({ id: person(i), traits: { a: 1, b: 1 }, pii: {} })),
        { id: 'alias', traits: { x: 1, y: 1 }, pii: {} },
        { id: 'derived-h', key: { key: 'pii.email', value: 'h@x.org' }, traits: { x: 1, y: 1 }, pii: {} },
        { id: 'derived-n', key: { key: 'pii.email', value: 'n@x.org' }, traits: { n: 1 }, pii: { email: 'n@x.org' } },
        ...Array.from({ length: PEOPLE }, (_, i) => ({ id: person(i), traits: { a: 2 }, pii: { name: `P${i}` } })),
        { id: 'kept', traits: { x: 2 }, pii: {} },
        { id: 'holder', traits: { x: 2 }, pii: {} },
        ...Array.from({ length: PEOPLE }, (_, i) => ({ id: person(i), traits: { c: 3 }, pii: {} })),
      ];
      const records = new SqlImportRecords(db, COMMIT_STEPS, 4);
      expect(await records.upsertProfiles(rows)()).toBe(PEOPLE + 3);

      const people = await db.query<{ id: string; traits: unknown; pii: unknown; version: number }>(
        `SELECT id, traits, pii, version FROM profiles WHERE id LIKE 'p%' ORDER BY id`,
      );
      expect(people).toHaveLength(PEOPLE);
      for (const { id, traits, pii, version } of people) {
        expect(traits).toEqual({ a: 2, b: 1, c: 3 });
        expect(pii).toEqual({ name: `P${id.slice(1)}` });
        expect(version).toBe(1);
      }
      // A merged id and its survivor's own id, a held key and its holder's id: one profile each, rows in order.
      const others = await db.query(`SELECT id, traits, version FROM profiles WHERE id NOT LIKE 'p%' ORDER BY id`);
      expect(others).toEqual([
        { id: 'derived-n', traits: { n: 1 }, version: 1 },
        { id: 'holder', traits: { x: 2, y: 1 }, version: 2 },
        { id: 'kept', traits: { tier: 'gold', x: 2, y: 1 }, version: 2 },
      ]);
      expect(await db.query(`SELECT key, value, profile_id FROM identity_keys ORDER BY value`)).toEqual([
        { key: 'pii.email', value: 'h@x.org', profile_id: 'holder' },
        { key: 'pii.email', value: 'n@x.org', profile_id: 'derived-n' },
      ]);
      // Each profile queued for segmentation once, by the transaction that wrote it.
      const [queued] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM segmentation_pending`);
      expect(queued!.n).toBe(PEOPLE + 3);
      const [written] = await db.query<{ n: number }>(
        `SELECT count(DISTINCT xmin::text)::int AS n FROM profiles WHERE id LIKE 'p%'`,
      );
      expect(written!.n).toBeGreaterThan(1);
    });
  });
}
