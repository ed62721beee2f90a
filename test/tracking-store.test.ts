import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { SqlTrackingStore } from '../src/storage/sql-tracking-store.js';
import type { EventRecord, ProfileState, SessionState } from '../src/tracking/model.js';
import { StoredEventId, type AppendedEvent, type BatchWrites } from '../src/tracking/ports.js';
import { openedSession } from '../src/tracking/visit.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

/** The store's write of a flush, one statement: what it stores, counts and refuses. */
for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`the tracking store's write on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let store: SqlTrackingStore;
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      store = new SqlTrackingStore(db);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    const now = new Date('2026-12-05T10:00:00Z');
    const profile = (id: string): ProfileState => ({
      id,
      ids: [],
      visits: 1,
      lastVisitAt: null,
      currentVisitAt: now,
      active: true,
      createdAt: now,
    });
    const session = (id: string, profileId: string): SessionState =>
      openedSession(id, profileId, 'web', { device: {}, os: {}, app: {}, context: {} }, now);
    const event = (id: string, sessionId: string, profileId: string, system = false): EventRecord => ({
      id,
      type: system ? 'session-opened' : 'page-view',
      profileId,
      sessionId,
      sourceId: 'web',
      save: true,
      properties: {},
      traits: {},
      context: {},
      tags: [],
      metadata: system ? { system: true } : {},
      occurredAt: now,
      insertedAt: now,
    });
    const writes = (parts: Partial<BatchWrites>): BatchWrites => ({
      newProfiles: [],
      changedProfiles: [],
      newSessions: [],
      changedSessions: [],
      events: [],
      profileDocuments: new Map(),
      storedDocuments: new Map(),
      storedEventIds: new Set(),
      appliedMappings: [],
      now,
      ...parts,
    });
    const write = (parts: Partial<BatchWrites>) => db.transaction((tx) => store.write(tx, writes(parts)));
    const eventsCount = async (id: string) =>
      (await db.query<{ events_count: number }>('SELECT events_count FROM sessions WHERE id = $1', [id]))[0]
        ?.events_count;
    const storedEvents = async (ids: string[]) =>
      (await db.query('SELECT id FROM events WHERE id = ANY($1::text[])', [ids])).length;

    it('stores new and changed sessions with their events counted once, system events not at all', async () => {
      const stored = await write({
        newProfiles: [profile('p1')],
        newSessions: [session('s1', 'p1'), session('s2', 'p1')],
        events: [event('e1', 's1', 'p1', true), event('e2', 's1', 'p1'), event('e3', 's1', 'p1')],
      });
      expect(stored).toEqual(new Set(['e1', 'e2', 'e3']));
      expect(await eventsCount('s1')).toBe(2);
      expect(await eventsCount('s2')).toBe(0);

      const again = await write({
        changedProfiles: [profile('p1')],
        changedSessions: [{ ...session('s1', 'p1'), status: 'active' }],
        events: [event('e3', 's1', 'p1'), event('e4', 's1', 'p1'), event('e4', 's1', 'p1'), event('e5', 's2', 'p1')],
        // As the lock found it: e3 is stored already, so neither stored nor counted again; e4 twice is one event.
        storedEventIds: new Set(['e3']),
      });
      expect(again).toEqual(new Set(['e4', 'e5']));
      expect(await eventsCount('s1')).toBe(3);
      // s2 is neither new nor changed in this batch, and still counts the event stored for it.
      expect(await eventsCount('s2')).toBe(1);
    });

    it.each([
      ['event', { events: [event('e6', 's3', 'p2'), event('e1', 's1', 'p1')] }],
      ['session', { newSessions: [session('s1', 'p2')] }],
      ['profile', { newProfiles: [profile('p1')] }],
    ])(
      'refuses a new %s another transaction stored since the lock, and the whole batch with it',
      async (_, racing: Partial<BatchWrites>) => {
        const attempt = write({
          newProfiles: [profile('p2')],
          newSessions: [session('s3', 'p2')],
          events: [event('e6', 's3', 'p2')],
          ...racing,
        });
        await expect(attempt).rejects.toThrow();
        expect(await storedEvents(['e6'])).toBe(0);
        expect(await eventsCount('s3')).toBeUndefined();
      },
    );

    it("tells an append's outcome row by row: stored on the session's profile, kept where stored, declined", async () => {
      await write({
        newProfiles: [profile('ap1'), profile('ap2')],
        newSessions: [session('as1', 'ap1'), session('as2', 'ap2'), { ...session('as3', 'ap2'), status: 'ended' }],
        events: [event('ae-stored', 'as1', 'ap1')],
      });
      const appended = (id: string, sessionId: string, profileId: string | undefined): AppendedEvent => ({
        id,
        type: 'order',
        sessionId,
        profileId,
        properties: { text: 'a "quoted" \\ word' },
        occurredAt: now,
      });
      const batch = [
        appended('ae-1', 'as1', 'ap1'),
        appended('ae-stored', 'as1', 'ap1'),
        appended('ae-2', 'as2', undefined),
        appended('ae-3', 'as-unknown', 'ap1'),
        appended('ae-4', 'as3', 'ap2'),
        appended('ae-5', 'as2', 'ap2'),
        appended('ae-8', 'as1', 'no-such-person'),
      ];
      const append = (events: AppendedEvent[], idsMayBeStored: boolean) =>
        store.transaction((tx) => store.appendEvents(tx, { sourceId: 'web', events, now }, idsMayBeStored));
      // Told that no id is stored, it fails on the one that is, and stores nothing.
      await expect(append(batch, false)).rejects.toBeInstanceOf(StoredEventId);
      expect(await storedEvents(['ae-1', 'ae-2', 'ae-5'])).toBe(0);

      const outcome = await append(batch, true);
      // A row naming no profile, or one no profile holds, is stored on its session's; one whose id was
      // stored is neither stored nor declined.
      expect(outcome.stored).toEqual([
        { id: 'ae-1', type: 'order', sessionId: 'as1', profileId: 'ap1' },
        { id: 'ae-2', type: 'order', sessionId: 'as2', profileId: 'ap2' },
        { id: 'ae-5', type: 'order', sessionId: 'as2', profileId: 'ap2' },
        { id: 'ae-8', type: 'order', sessionId: 'as1', profileId: 'ap1' },
      ]);
      // An unknown session, an ended visit.
      expect(outcome.declined).toEqual([3, 4]);
      const [stored] = await db.query<{ properties: unknown }>("SELECT properties FROM events WHERE id = 'ae-1'");
      expect(stored?.properties).toEqual({ text: 'a "quoted" \\ word' });

      const fresh = await append([appended('ae-6', 'as2', undefined), appended('ae-7', 'as1', 'ap1')], false);
      expect(fresh).toEqual({
        stored: [
          { id: 'ae-6', type: 'order', sessionId: 'as2', profileId: 'ap2' },
          { id: 'ae-7', type: 'order', sessionId: 'as1', profileId: 'ap1' },
        ],
        declined: [],
      });
    });

    it('appends the context and tags a batch has, however their text is written, and none where it has none', async () => {
      await write({ newProfiles: [profile('cp1')], newSessions: [session('cs1', 'cp1')] });
      const appended = (id: string, extra: Pick<AppendedEvent, 'context' | 'tags'>): AppendedEvent => ({
        id,
        type: 'order',
        sessionId: 'cs1',
        profileId: 'cp1',
        properties: {},
        occurredAt: now,
        ...extra,
      });
      const awkward = ['a, b', 'say "hi"', 'back\\slash', '{braces}', 'NULL', 'ünïcødé 🎉'];
      const append = (events: AppendedEvent[], idsMayBeStored: boolean) =>
        store.transaction((tx) => store.appendEvents(tx, { sourceId: 'web', events, now }, idsMayBeStored));
      for (const idsMayBeStored of [false, true]) {
        const id = (name: string) => `${name}-${idsMayBeStored}`;
        const outcome = await append(
          [
            appended(id('ce-both'), { context: { page: { url: 'https://x.example/?q="1"' } }, tags: awkward }),
            appended(id('ce-tags-only'), { tags: ['one'] }),
            appended(id('ce-context-only'), { context: { utm: { source: 'mail' } } }),
          ],
          idsMayBeStored,
        );
        expect(outcome.declined).toEqual([]);
        await append([appended(id('ce-none'), {})], idsMayBeStored);
        const stored = await db.query<{ id: string; context: unknown; tags: string[] }>(
          'SELECT id, context, tags FROM events WHERE id = ANY($1::text[]) ORDER BY id',
          [['ce-both', 'ce-context-only', 'ce-none', 'ce-tags-only'].map(id)],
        );
        expect(stored).toEqual([
          { id: id('ce-both'), context: { page: { url: 'https://x.example/?q="1"' } }, tags: awkward },
          { id: id('ce-context-only'), context: { utm: { source: 'mail' } }, tags: [] },
          { id: id('ce-none'), context: {}, tags: [] },
          { id: id('ce-tags-only'), context: {}, tags: ['one'] },
        ]);
      }
    });

    it('runs a batch that met a creation race again, as it would then read what the other one created', async () => {
      let attempts = 0;
      const racing = store.transaction(async (tx) => {
        attempts++;
        return store.write(tx, writes({ newProfiles: [profile('p1')] }));
      });
      await expect(racing).rejects.toThrow();
      expect(attempts).toBeGreaterThan(1);
    });
  });
}
