import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { SqlSettings } from '../src/storage/sql-settings.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`settings on ${backend.name}`, () => {
    let db: (Database & { dispose(): Promise<void> }) | undefined;
    afterEach(async () => {
      await db?.dispose();
    });

    it('keeps the first value set, as the value itself (meridian start prints and uses it)', async () => {
      db = await openTestDatabase(backend.name);
      const settings = new SqlSettings(db);
      expect(await settings.getOrInit('default_event_source', 'first-source')).toBe('first-source');
      expect(await settings.getOrInit('default_event_source', 'second-source')).toBe('first-source');
      expect(
        await db.query(
          `SELECT jsonb_typeof(value) AS type, value #>> '{}' AS text FROM settings WHERE key = 'default_event_source'`,
        ),
      ).toEqual([{ type: 'string', text: 'first-source' }]);
    });
  });
}
