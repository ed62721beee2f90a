import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

/** The transaction contract both adapters keep, which the commit of /track relies on. */
for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`transactions on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      await db.exec('CREATE TABLE tx_probe (id text PRIMARY KEY, n int NOT NULL)');
    });
    afterAll(async () => {
      await db?.dispose();
    });

    const stored = async (id: string) =>
      (await db.query<{ n: number }>('SELECT n FROM tx_probe WHERE id = $1', [id]))[0]?.n;

    it('runs statements issued without awaiting in the order issued, and commits them together', async () => {
      await db.transaction(async (tx) => {
        const inserted = tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['ordered']);
        const updated = tx.query('UPDATE tx_probe SET n = n + 1 WHERE id = $1 RETURNING n', ['ordered']);
        await inserted;
        expect(await updated).toEqual([{ n: 2 }]);
      });
      expect(await stored('ordered')).toBe(2);
    });

    it('commits nothing when a statement failed, even one the work caught', async () => {
      const attempt = db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['caught']);
        await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['caught']).catch(() => undefined);
        return 'done';
      });
      await expect(attempt).rejects.toThrow();
      expect(await stored('caught')).toBeUndefined();
    });

    it('rolls back everything when the work throws', async () => {
      const attempt = db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['thrown']);
        throw new Error('changed my mind');
      });
      await expect(attempt).rejects.toThrow('changed my mind');
      expect(await stored('thrown')).toBeUndefined();
    });

    it('undoes only a failed savepoint’s statements', async () => {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['kept']);
        await expect(
          tx.savepoint(async (inner) => {
            await inner.query('UPDATE tx_probe SET n = 5 WHERE id = $1', ['kept']);
            await inner.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['kept']);
          }),
        ).rejects.toThrow();
        await tx.query('UPDATE tx_probe SET n = n + 1 WHERE id = $1', ['kept']);
      });
      expect(await stored('kept')).toBe(2);
    });
  });
}
