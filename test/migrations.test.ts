import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import type { Database } from '../src/storage/database.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`upgrades on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    afterEach(async () => {
      await db?.dispose();
    });

    it('0007 marks sessions with the types the heartbeat registered since their last activity', async () => {
      const all = loadMigrations();
      db = await openTestDatabase(
        backend.name,
        'meridian_test',
        all.filter((migration) => migration.version < 7),
      );
      await db.query(
        `INSERT INTO sessions (id, profile_id, last_event_at, inactive, status) VALUES
           ('idle', 'p1', '2026-01-01T10:00:00Z', true, 'ended'), ('active-again', 'p1', '2026-01-01T12:00:00Z', false, 'active'),
           ('untouched', 'p2', '2026-01-01T10:00:00Z', true, 'active')`,
      );
      await db.query(
        `INSERT INTO events (id, type, profile_id, session_id, source_id, metadata, occurred_at, inserted_at) VALUES
           ('e1', 'session-inactive', 'p1', 'idle', 's', '{"registeredBy": "heartbeat:inactive-session"}', '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'),
           ('e2', 'visit-ended', 'p1', 'idle', 's', '{"registeredBy": "heartbeat:visit-end"}', '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'),
           ('e3', 'session-inactive', 'p1', 'active-again', 's', '{"registeredBy": "heartbeat:inactive-session"}', '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'),
           ('e4', 'session-inactive', 'p2', 'untouched', 's', '{}', '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z')`,
      );
      await migrate(db, all);
      const marks = await db.query<{ id: string; registered_types: string[]; current: boolean }>(
        'SELECT id, registered_types, registered_for IS NOT DISTINCT FROM last_event_at AS current FROM sessions ORDER BY id',
      );
      expect(marks).toEqual([
        { id: 'active-again', registered_types: [], current: false },
        { id: 'idle', registered_types: ['session-inactive', 'visit-ended'], current: true },
        { id: 'untouched', registered_types: [], current: false },
      ]);
    });

    it('0009 drops memberships of deleted profiles and keeps new ones from outliving their profile', async () => {
      const all = loadMigrations();
      db = await openTestDatabase(
        backend.name,
        'meridian_test',
        all.filter((migration) => migration.version < 9),
      );
      await db.query(`INSERT INTO profiles (id) VALUES ('kept')`);
      await db.query(
        `INSERT INTO segments (id, name, machine_name, condition) VALUES ('g', 'g', 'g', 'profile@id EXISTS')`,
      );
      await db.query(
        `INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES ('g', 'kept', now()), ('g', 'gone', now())`,
      );
      await migrate(db, all);
      expect(await db.query('SELECT profile_id FROM segment_members')).toEqual([{ profile_id: 'kept' }]);
      await expect(
        db.query(`INSERT INTO segment_members (segment_id, profile_id, entered_at) VALUES ('g', 'gone', now())`),
      ).rejects.toMatchObject({
        code: '23503',
      });
      await db.query(`DELETE FROM profiles WHERE id = 'kept'`);
      expect(await db.query('SELECT profile_id FROM segment_members')).toEqual([]);
    });
  });
}
