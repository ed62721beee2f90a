import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/storage/database.js';
import { connectPostgres } from '../src/storage/postgres.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

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

/**
 * A connection lost in the middle of a transaction: postgres.js reopens it for whoever asks next, so
 * a statement the transaction issues afterwards must fail rather than run outside the transaction.
 */
describe.skipIf(!(await postgresAvailable()))('a transaction whose connection is lost, on postgres', () => {
  let database: TestDatabase;
  let admin: postgres.Sql;
  // One connection, so that the pool has to reopen the transaction's own for the next query.
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    admin = postgres(database.url, { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE TABLE tx_probe (id text PRIMARY KEY, n int NOT NULL)');
    db = connectPostgres({ url: database.url, schema: 'public', maxConnections: 1 });
  });
  afterAll(async () => {
    await db?.close();
    await admin?.end();
    await database?.drop();
  });

  const storedIds = async () => (await admin<{ id: string }[]>`SELECT id FROM tx_probe ORDER BY id`).map((r) => r.id);
  const killOwnBackend = 'SELECT pg_terminate_backend(pg_backend_pid()), pg_sleep(30)';
  /**
   * The pool serves again on the connection it reopened (one released closed would leave the next
   * query unanswered). postgres.js fails the first query there with the FATAL that closed it.
   */
  const servesAgain = async () => {
    await db.query('SELECT 1').catch(() => undefined);
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  };

  it('runs no later statement on the reopened connection, and fails', async () => {
    const attempt = db.transaction(async (tx) => {
      const [began] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['reopened-before']);
      // Waits for the only connection, so runs once it has been lost and reopened.
      const waiting = db.query('SELECT 1');
      await admin`SELECT pg_terminate_backend(${began!.pid})`;
      await waiting;
      await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['reopened-after']);
    });
    await expect(attempt).rejects.toThrow();
    expect(await storedIds()).not.toContain('reopened-after');
    expect(await storedIds()).not.toContain('reopened-before');
  });

  it('fails a statement issued after the connection closed instead of leaving it unanswered', async () => {
    const attempt = db.transaction(async (tx) => {
      await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['closed-before']);
      await tx.query(killOwnBackend).catch(() => undefined);
      await tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['closed-after']);
    });
    await expect(attempt).rejects.toThrow();
    await servesAgain();
    expect(await storedIds()).not.toContain('closed-after');
  });

  it('fails the statements queued behind the one that lost the connection', async () => {
    const settled = await db
      .transaction(async (tx) =>
        // A statement with parameters, not yet prepared, holds the ones behind it until it is answered.
        Promise.allSettled([
          tx.query(`${killOwnBackend} WHERE $1::boolean`, [true]),
          tx.query('INSERT INTO tx_probe (id, n) VALUES ($1, 1)', ['queued']),
        ]),
      )
      .catch((error: unknown) => error);
    expect(settled).toBeInstanceOf(Error);
    await servesAgain();
    expect(await storedIds()).not.toContain('queued');
  });
});
