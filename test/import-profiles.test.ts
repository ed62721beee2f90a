import { afterEach, describe, expect, it } from 'vitest';
import { COMMIT_STEPS, commitSteps } from '../src/cli/commit-steps.js';
import { Identity, PointCache } from '../src/identity/identity.js';
import type { IdentitySettings } from '../src/identity/keys.js';
import { rowToProfile, type ProfileUpsert } from '../src/importing/rows.js';
import type { ImportedProfile } from '../src/importing/tracardi.js';
import type { Database } from '../src/storage/database.js';
import { SqlIdentityStore } from '../src/storage/sql-identity.js';
import { SqlImportRecords } from '../src/storage/sql-import-records.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

const PEOPLE = 200;
const IDENTITY: IdentitySettings = { keys: ['pii.email'], placeholders: ['unknown'], maxMergeProfiles: 10 };

/** The commit steps as the server runs them: identification first. */
const identifying = (db: Database) =>
  commitSteps(new Identity(new SqlIdentityStore(db), IDENTITY, new PointCache()).commitStep());

const keysOf = (db: Database) => db.query(`SELECT key, value, profile_id FROM identity_keys ORDER BY value`);

const tracardiProfile = (id: string, email: string): ImportedProfile => ({
  id,
  ids: [],
  traits: {},
  pii: { email },
  data: {},
  stats: {},
  consents: {},
  segments: [],
  metadata: {},
  active: false,
  visits: 0,
  lastVisitAt: null,
  currentVisitAt: null,
  createdAt: '2022-05-01T10:00:00Z',
  updatedAt: '2022-05-01T10:00:00Z',
});

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
      const records = new SqlImportRecords(db, COMMIT_STEPS, IDENTITY, 4);
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
      expect(await keysOf(db)).toEqual([
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

    it('merges nested traits and PII key by key at every depth; arrays, scalars and null replace', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(
        `INSERT INTO profiles (id, traits, pii)
         VALUES ('s1', '{"tags": ["a", "b"], "score": {"total": 3}, "plan": "free", "note": {"x": 1}}',
                 '{"phone": {"home": "1"}}')`,
      );
      const records = new SqlImportRecords(db, COMMIT_STEPS, IDENTITY, 4);
      const city = { profileId: 'id', traits: { 'address.city': 'city' }, pii: { 'phone.work': 'work' } };
      const zip = { profileId: 'id', traits: { 'address.zip': 'zip', 'address.geo.lat': 'lat' } };
      for (const id of ['s1', 's2']) {
        await records.upsertProfiles([rowToProfile('a', { id, city: 'Oslo', work: '2' }, city, IDENTITY)])();
        await records.upsertProfiles([rowToProfile('b', { id, zip: '0150', lat: '59' }, zip, IDENTITY)])();
      }
      // A lane holding flat rows beside a nested one, and two nested rows of one profile in one batch.
      await records.upsertProfiles([
        { id: 's1', traits: { tags: ['c'], score: 7, plan: { name: 'pro' }, note: null }, pii: {} },
        { id: 's3', traits: { address: { city: 'Bergen', geo: { lat: 60 } } }, pii: {} },
        { id: 's3', traits: { address: { zip: '5003', geo: { lon: 5 } } }, pii: { phone: { work: '3' } } },
        { id: 's3', traits: { address: { geo: { lat: 61 } } }, pii: {} },
      ])();

      expect(await db.query(`SELECT id, traits, pii FROM profiles ORDER BY id`)).toEqual([
        {
          id: 's1',
          traits: {
            tags: ['c'],
            score: 7,
            plan: { name: 'pro' },
            note: null,
            address: { city: 'Oslo', zip: '0150', geo: { lat: '59' } },
          },
          pii: { phone: { home: '1', work: '2' } },
        },
        {
          id: 's2',
          traits: { address: { city: 'Oslo', zip: '0150', geo: { lat: '59' } } },
          pii: { phone: { work: '2' } },
        },
        {
          id: 's3',
          traits: { address: { city: 'Bergen', zip: '5003', geo: { lat: 61, lon: 5 } } },
          pii: { phone: { work: '3' } },
        },
      ]);
    });

    it('claims the keys of a profile it sets by id, so that an import by that key sets the same profile', async () => {
      db = await openTestDatabase(backend.name);
      const records = new SqlImportRecords(db, identifying(db), IDENTITY, 4);
      const byId = { profileId: 'id', pii: { email: 'email' } };
      await records.upsertProfiles([rowToProfile('crm', { id: 'q1', email: ' Dave@Example.com ' }, byId, IDENTITY)])();
      expect(await keysOf(db)).toEqual([{ key: 'pii.email', value: 'dave@example.com', profile_id: 'q1' }]);

      const byKey = { identityKey: 'pii.email', pii: { email: 'email' }, traits: { tier: 'tier' } };
      const vip = rowToProfile('vip', { email: 'dave@example.com', tier: 'gold' }, byKey, IDENTITY);
      expect(await records.upsertProfiles([vip])()).toBe(1);
      expect(await db.query(`SELECT id, traits, pii, version FROM profiles`)).toEqual([
        { id: 'q1', traits: { tier: 'gold' }, pii: { email: 'dave@example.com' }, version: 2 },
      ]);
    });

    it('merges a profile it sets with the holder of one of its keys, as /track would, in the lane that sets it', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(`INSERT INTO profiles (id, created_at) VALUES ('old', now() - interval '1 day')`);
      await db.query(`INSERT INTO identity_keys (key, value, profile_id) VALUES ('pii.email', 'a@x.org', 'old')`);
      await db.query(`INSERT INTO segments (id, name, machine_name, condition) VALUES ('any', 'any', 'any', 'true')`);
      const records = new SqlImportRecords(db, identifying(db), IDENTITY, 4);
      const rows: ProfileUpsert[] = [
        ...Array.from({ length: PEOPLE }, (_, i) => ({ id: `p${i}`, traits: {}, pii: { email: `P${i}@x.org` } })),
        { id: 'n1', traits: { plan: 'pro' }, pii: { email: 'A@x.org' } },
        { id: 'n2', traits: { n2: true }, pii: { email: 'b@x.org' } },
        { id: 'n3', traits: { n3: true }, pii: { email: 'b@x.org' } },
        { id: 'n4', traits: {}, pii: { email: 'unknown' } },
      ];
      await records.upsertProfiles(rows)();

      const [old] = await db.query(`SELECT ids, traits FROM profiles WHERE id = 'old'`);
      expect(old).toEqual({ ids: ['n1'], traits: { plan: 'pro' } });
      // Two new profiles with one email: one person, whichever lane met the other's claim.
      const [b] = await db.query<{ id: string; ids: string[]; traits: unknown }>(
        `SELECT id, ids, traits FROM profiles WHERE id IN ('n2', 'n3')`,
      );
      expect([b!.id, ...b!.ids].sort()).toEqual(['n2', 'n3']);
      expect(b!.traits).toEqual({ n2: true, n3: true });
      const keys = await keysOf(db);
      expect(keys).toHaveLength(PEOPLE + 2);
      expect(keys).toContainEqual({ key: 'pii.email', value: 'p7@x.org', profile_id: 'p7' });
      expect(keys).toContainEqual({ key: 'pii.email', value: 'b@x.org', profile_id: b!.id });
      expect(await db.query(`SELECT count(*)::int AS n FROM profiles WHERE id = 'n4'`)).toEqual([{ n: 1 }]);
      const merges = await db.query<{ reason: unknown }>(`SELECT reason FROM profile_merges ORDER BY survivor_id`);
      expect(merges.map(({ reason }) => reason)).toEqual([
        { by: 'import', keys: [{ key: 'pii.email', value: 'b@x.org' }] },
        { by: 'import', keys: [{ key: 'pii.email', value: 'a@x.org' }] },
      ]);
      // The survivors, not the merged-away ids, are queued for segmentation.
      const queued = await db.query<{ profile_id: string }>(
        `SELECT profile_id FROM segmentation_pending WHERE profile_id IN ('old', 'n1', 'n2', 'n3')`,
      );
      expect(queued.map(({ profile_id }) => profile_id).sort()).toEqual([b!.id, 'old'].sort());
    });

    it('sets the survivor, not a new profile, for rows looked up before the batch that merged their id away', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(`INSERT INTO profiles (id, created_at) VALUES ('old', now() - interval '1 day')`);
      await db.query(`INSERT INTO identity_keys (key, value, profile_id) VALUES ('pii.email', 'a@x.org', 'old')`);
      const records = new SqlImportRecords(db, identifying(db), IDENTITY, 4);
      // As the runner does: the next batch is looked up while the one before it is stored.
      const first = records.upsertProfiles([{ id: 'n1', traits: { a: 1 }, pii: { email: 'A@x.org' } }]);
      const second = records.upsertProfiles([{ id: 'n1', traits: { plan: 'gold' }, pii: {} }]);
      await first();
      await second();
      expect(await db.query(`SELECT id, ids, traits FROM profiles WHERE id IN ('old', 'n1')`)).toEqual([
        { id: 'old', ids: ['n1'], traits: { a: 1, plan: 'gold' } },
      ]);
    });

    it('claims the keys of Tracardi profiles that no profile holds, and merges none, however often it runs', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(`INSERT INTO profiles (id) VALUES ('native')`);
      await db.query(`INSERT INTO identity_keys (key, value, profile_id) VALUES ('pii.email', 'c@x.org', 'native')`);
      const records = new SqlImportRecords(db, identifying(db), IDENTITY, 4);
      const dump = [tracardiProfile('t1', ' D@x.org'), tracardiProfile('t2', 'C@x.org')];
      for (const round of [0, 1]) expect(await records.writeProfiles(dump)).toBe(round === 0 ? 2 : 0);
      expect(await keysOf(db)).toEqual([
        { key: 'pii.email', value: 'c@x.org', profile_id: 'native' },
        { key: 'pii.email', value: 'd@x.org', profile_id: 't1' },
      ]);
      expect(await db.query(`SELECT id, ids FROM profiles ORDER BY id`)).toEqual([
        { id: 'native', ids: [] },
        { id: 't1', ids: [] },
        { id: 't2', ids: [] },
      ]);
      expect(await db.query(`SELECT count(*)::int AS n FROM profile_merges`)).toEqual([{ n: 0 }]);
    });
  });
}
