import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { SqlIdentityStore } from '../src/storage/sql-identity.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { openTestDatabase } from './support/db.js';

interface Profile {
  id: string;
  ids: string[];
  pii: Record<string, unknown>;
  traits: Record<string, unknown>;
  data: Record<string, unknown>;
  metadata: { time: { visit: { count: number } } };
}
interface Merge {
  id: string;
  survivorId: string;
  mergedIds: string[];
  status: string;
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`identity on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name, { MERGE_MAX_PROFILES: '3' });
      const point = await api.admin({
        method: 'POST',
        url: '/identification-points',
        payload: {
          name: 'login',
          eventType: 'login',
          fields: [
            { event: 'properties.email', profile: 'pii.email' },
            { event: 'properties.crm', profile: 'data.identifier.id' },
            { event: 'properties.phone', profile: 'data.contact.phone.main' },
          ],
        },
      });
      expect(point.statusCode).toBe(201);
    });
    afterAll(async () => {
      await api?.close();
    });

    /** A new visitor's request; answers its profile id. */
    const visit = async (events: unknown[], profile: string | null = null, session?: string) => {
      const response = await api.track({
        source: { id: api.sourceId },
        profile: profile === null ? null : { id: profile },
        ...(session ? { session: { id: session } } : {}),
        events,
      });
      expect(response.statusCode).toBe(200);
      return response.json() as { profile: { id: string }; session: { id: string } };
    };
    const login = (email: string, profile: string | null = null, extra: Record<string, unknown> = {}) =>
      visit([{ type: 'login', properties: { email, ...extra } }], profile);
    const profile = async (id: string) =>
      (await api.admin({ method: 'GET', url: `/profiles/${id}` })).json() as Profile;
    const history = async (id: string) =>
      (await api.admin({ method: 'GET', url: `/profiles/${id}/merges` })).json() as Merge[];

    it('merges two profiles when an identification point finds an email another profile holds', async () => {
      const first = await login(' Ann@Example.com ');
      const second = await visit([{ type: 'page-view' }, { type: 'page-view' }]);
      expect(second.profile.id).not.toBe(first.profile.id);

      const answer = await login('ann@example.COM', second.profile.id);
      expect(answer.profile.id).toBe(first.profile.id);

      const survivor = await profile(second.profile.id);
      expect(survivor.id).toBe(first.profile.id);
      expect(survivor.ids).toEqual([second.profile.id]);
      expect(survivor.pii['email']).toBe('ann@example.COM');
      // One visit each, and the login's own visit of the second.
      expect(survivor.metadata.time.visit.count).toBe(3);
      const events = (
        await api.admin({ method: 'GET', url: `/profiles/${first.profile.id}/events?limit=100` })
      ).json() as {
        items: { type: string }[];
      };
      expect(events.items.filter((event) => event.type === 'page-view')).toHaveLength(2);

      const found = (await api.admin({ method: 'GET', url: '/profiles?key=pii.email&value=ANN@example.com' })).json();
      expect(found).toEqual([expect.objectContaining({ id: first.profile.id })]);

      // The tracker keeps sending the id it knows, with the session it knows: both find the survivor.
      const later = await visit([{ type: 'page-view' }], second.profile.id, second.session.id);
      expect(later.profile.id).toBe(first.profile.id);
      const bySession = await api.track({
        source: { id: api.sourceId },
        session: { id: second.session.id },
        events: [{ type: 'scroll' }],
      });
      expect((bySession.json() as { profile: { id: string } }).profile.id).toBe(first.profile.id);
    });

    it('undoes a merge: the merged-away profile comes back as it was, the survivor keeps what came after', async () => {
      const first = await login('bob@example.com');
      const second = await visit([{ type: 'login', properties: { crm: 'CRM-B' } }]);
      await login('bob@example.com', second.profile.id);
      const [merge] = await history(first.profile.id);
      expect(merge).toMatchObject({ survivorId: first.profile.id, mergedIds: [second.profile.id], status: 'merged' });
      await visit([{ type: 'after-merge' }], first.profile.id);

      const undo = await api.admin({ method: 'POST', url: `/profiles/merges/${merge!.id}/undo` });
      expect(undo.statusCode).toBe(200);
      expect(undo.json()).toMatchObject({ status: 'undone' });

      const restored = await profile(second.profile.id);
      expect(restored.id).toBe(second.profile.id);
      expect(restored.pii).toEqual({ email: 'bob@example.com' });
      expect(restored.data).toEqual({ identifier: { id: 'CRM-B' } });
      expect(restored.metadata.time.visit.count).toBe(2);
      const survivor = await profile(first.profile.id);
      expect(survivor.ids).toEqual([]);
      // Its own visit, and the one after the merge.
      expect(survivor.metadata.time.visit.count).toBe(2);
      // The key the merge took from it is back with it; the email stays with the profile that held it first.
      const byKey = async (key: string, value: string) =>
        ((await api.admin({ method: 'GET', url: `/profiles?key=${key}&value=${value}` })).json() as Profile[])[0]?.id;
      expect(await byKey('data.identifier.id', 'CRM-B')).toBe(second.profile.id);
      expect(await byKey('pii.email', 'bob@example.com')).toBe(first.profile.id);

      const again = await api.admin({ method: 'POST', url: `/profiles/merges/${merge!.id}/undo` });
      expect(again.statusCode).toBe(409);

      // Deleting a profile deletes the merge records that hold its before-images.
      expect((await api.admin({ method: 'DELETE', url: `/profiles/${first.profile.id}` })).statusCode).toBe(204);
      expect(await history(first.profile.id)).toEqual([]);
    });

    it('never merges on a placeholder value', async () => {
      const first = await login('test@test.com');
      const second = await login('  UNKNOWN ');
      const third = await login('test@test.com');
      expect(new Set([first.profile.id, second.profile.id, third.profile.id]).size).toBe(3);
      expect(await history(third.profile.id)).toEqual([]);
    });

    it('gives back on undo a key the survivor claimed in the merge from a value only the merged-away profile held', async () => {
      const older = (await visit([{ type: 'page-view' }])).profile.id;
      const newer = (await visit([{ type: 'page-view' }])).profile.id;
      // Imported data: a value in the document that was never claimed as a key.
      await api.runtime.db.query(`UPDATE profiles SET pii = '{"email": "eve@example.com"}' WHERE id = $1`, [newer]);
      const byKey = async () =>
        (
          (await api.admin({ method: 'GET', url: '/profiles?key=pii.email&value=eve@example.com' })).json() as Profile[]
        )[0]?.id;
      const merged = await api.admin({ method: 'POST', url: '/profiles/merge', payload: { ids: [older, newer] } });
      expect(merged.statusCode).toBe(200);
      expect(await byKey()).toBe(older);
      await api.admin({ method: 'POST', url: `/profiles/merges/${(merged.json() as Merge).id}/undo` });
      expect((await profile(older)).pii).toEqual({});
      expect(await byKey()).toBe(newer);
    });

    it('merges profiles an operator names into the oldest, and refuses more than MERGE_MAX_PROFILES', async () => {
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await visit([{ type: 'page-view' }])).profile.id);
      const refused = await api.admin({ method: 'POST', url: '/profiles/merge', payload: { ids } });
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ error: 'merge_refused' });
      expect((await profile(ids[3]!)).id).toBe(ids[3]);

      const merged = await api.admin({ method: 'POST', url: '/profiles/merge', payload: { ids: ids.slice(1) } });
      expect(merged.statusCode).toBe(200);
      expect(merged.json()).toMatchObject({ survivorId: ids[1], status: 'merged' });
      expect((await profile(ids[3]!)).metadata.time.visit.count).toBe(3);
    });

    it('refuses and records an identification that would join more than MERGE_MAX_PROFILES', async () => {
      const holders = [
        await login('c1@example.com'),
        await visit([{ type: 'login', properties: { crm: 'CRM-1' } }]),
        await visit([{ type: 'login', properties: { phone: '+48 601 234 567' } }]),
      ];
      const answer = await visit([
        { type: 'login', properties: { email: 'c1@example.com', crm: 'CRM-1', phone: '+48601234567' } },
      ]);
      expect(holders.map((holder) => holder.profile.id)).not.toContain(answer.profile.id);
      const [refusal] = await history(answer.profile.id);
      expect(refusal).toMatchObject({ status: 'refused', survivorId: answer.profile.id });
      expect(refusal!.mergedIds.sort()).toEqual(holders.map((holder) => holder.profile.id).sort());
      // Each value stays with the profile that held it first.
      const found = (
        await api.admin({ method: 'GET', url: '/profiles?key=data.contact.phone.main&value=%2B48601234567' })
      ).json();
      expect(found).toEqual([expect.objectContaining({ id: holders[2]!.profile.id })]);
    });

    it("applies a flow's merge effect in the caller's transaction, merging by the values at the given paths", async () => {
      const holder = await visit([{ type: 'login', properties: { crm: 'FLOW-1' } }]);
      const other = await visit([{ type: 'page-view' }]);
      const { root, db } = api.runtime;
      // As a flow's set-value would, then the effect {kind: 'merge', keys: ['data.identifier.id']}.
      const survivor = await db.transaction(async (tx) => {
        await tx.query(`UPDATE profiles SET data = '{"identifier": {"id": " FLOW-1 "}}' WHERE id = $1`, [
          other.profile.id,
        ]);
        return root.identity.mergeByKeys(tx, other.profile.id, ['data.identifier.id']);
      });
      expect(survivor).toBe(holder.profile.id);
      expect((await profile(other.profile.id)).id).toBe(holder.profile.id);
      expect((await history(holder.profile.id))[0]).toMatchObject({ status: 'merged', reason: { by: 'flow' } });
    });

    it("moves the merged-away profile's segment memberships to the survivor, an entry in the outbox, and back on undo", async () => {
      const older = (await visit([{ type: 'page-view' }])).profile.id;
      const newer = (await visit([{ type: 'page-view' }])).profile.id;
      const created = await api.admin({
        method: 'POST',
        url: '/segments',
        payload: { name: `vip ${newer}`, condition: 'profile@traits.vip == true', enabled: false },
      });
      expect(created.statusCode).toBe(201);
      const segment = (created.json() as { id: string }).id;
      const { db } = api.runtime;
      await db.query(`INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES ($1, $2, now())`, [
        segment,
        newer,
      ]);
      const merged = await api.admin({ method: 'POST', url: '/profiles/merge', payload: { ids: [newer, older] } });
      expect(merged.json()).toMatchObject({ survivorId: older });
      const members = () =>
        db.query<{ profile_id: string }>(
          'SELECT profile_id FROM segment_members WHERE segment_id = $1 AND left_at IS NULL ORDER BY profile_id',
          [segment],
        );
      expect(await members()).toEqual([{ profile_id: older }]);
      const changes = await db.query('SELECT profile_id, change FROM segment_changes WHERE segment_id = $1', [segment]);
      expect(changes).toEqual([{ profile_id: older, change: 'entered' }]);

      await api.admin({ method: 'POST', url: `/profiles/merges/${(merged.json() as Merge).id}/undo` });
      expect((await members()).map((row) => row.profile_id)).toContain(newer);
    });

    it('merges when an event-to-profile mapping gives a profile an email another profile holds', async () => {
      const mapping = await api.admin({
        method: 'POST',
        url: '/mappings',
        payload: {
          name: 'newsletter',
          kind: 'event-to-profile',
          eventType: 'newsletter',
          mapping: [{ event: 'properties.address', profile: 'pii.email', op: 'equals' }],
        },
      });
      expect(mapping.statusCode).toBe(201);
      const holder = await login('dana@example.com');
      const other = await visit([{ type: 'newsletter', properties: { address: 'DANA@example.com' } }]);
      expect(other.profile.id).toBe(holder.profile.id);
      expect((await history(holder.profile.id))[0]).toMatchObject({ status: 'merged', reason: { by: 'mapping' } });
    });
  });
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`identity key claims on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    afterEach(async () => {
      await db?.dispose();
    });

    it('claims values for several profiles at once and answers those another profile holds, with that holder', async () => {
      db = await openTestDatabase(backend.name);
      await db.query(`INSERT INTO profiles (id) VALUES ('a'), ('b'), ('c')`);
      await db.query(`INSERT INTO identity_keys (key, value, profile_id) VALUES ('pii.email', 'held', 'c')`);
      const store = new SqlIdentityStore(db);
      const claim = (value: string, profileId: string) => ({ key: 'pii.email', value, profileId });
      // Two claims of one value in one statement: the first (by profile) gets it, the other finds it taken.
      const taken = await db.transaction((tx) =>
        store.claimKeys(tx, [claim('b@x.org', 'b'), claim('b@x.org', 'a'), claim('held', 'a'), claim('held', 'c')]),
      );
      expect(taken.sort((x, y) => x.value.localeCompare(y.value))).toEqual([
        { ...claim('b@x.org', 'b'), holder: 'a' },
        { ...claim('held', 'a'), holder: 'c' },
      ]);
    });

    it.skipIf(backend.name === 'pglite')(
      'answers the holder of a value another transaction claimed while the claim waited for it',
      async () => {
        db = await openTestDatabase(backend.name);
        await db.query(`INSERT INTO profiles (id) VALUES ('a'), ('b')`);
        const store = new SqlIdentityStore(db);
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let claimed!: () => void;
        const first = db.transaction(async (tx) => {
          await store.claimKeys(tx, [{ key: 'pii.email', value: 'x', profileId: 'a' }]);
          claimed();
          await released;
        });
        await new Promise<void>((resolve) => (claimed = resolve));
        const second = db.transaction((tx) => store.claimKeys(tx, [{ key: 'pii.email', value: 'x', profileId: 'b' }]));
        // The second claim waits on the first transaction's uncommitted value.
        await new Promise((resolve) => setTimeout(resolve, 200));
        release();
        await first;
        expect(await second).toEqual([{ key: 'pii.email', value: 'x', profileId: 'b', holder: 'a' }]);
      },
    );
  });
}
