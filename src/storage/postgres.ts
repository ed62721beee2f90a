import postgres from 'postgres';
import type { Database, Row, SqlExecutor, TransactionExecutor } from './database.js';
import { quoteIdent, underSavepoint } from './database.js';

type Sql = postgres.Sql | postgres.ReservedSql;

function executor(sql: Sql): SqlExecutor {
  return {
    query: <T extends Row>(text: string, params: readonly unknown[] = []) =>
      sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }) as unknown as Promise<T[]>,
    exec: async (script: string) => {
      await sql.unsafe(script);
    },
  };
}

export interface PostgresOptions {
  url: string;
  schema: string;
  maxConnections?: number;
}

export function connectPostgres({ url, schema, maxConnections = 10 }: PostgresOptions): Database {
  const sql = postgres(url, {
    max: maxConnections,
    onnotice: () => {},
    connection: { search_path: `${quoteIdent(schema)},public`, application_name: 'meridian' },
    // bigint arrives as a string by default; Meridian's counters and sequence numbers fit in a double,
    // and PGlite returns them as numbers too.
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  });
  const base = executor(sql);
  return {
    kind: 'postgres',
    schema,
    ...base,
    transaction: (work) => transaction(sql, work),
    close: () => sql.end({ timeout: 5 }),
  };
}

/** What postgres.js reports of a statement besides its rows: its command tag. */
interface Completion {
  command: string;
}

/** The part of a postgres.js connection a transaction watches: its close callback (sql.begin's own hook). */
interface PostgresConnection {
  onclose: ((error: Error) => void) | null;
}

/**
 * Watches the connection a transaction reserved. postgres.js reopens a lost connection for whoever
 * asks next, and would run the transaction's later statements there, outside the transaction and
 * autocommitted, or write them to the closed socket and never answer; releasing the lost connection
 * would hand the pool a closed one (porsager/postgres#1199). BEGIN's `onexecute` hook, the one
 * postgres.js's sql.begin uses, hands over the connection, whose close then fails every statement
 * still pending or issued later.
 */
function watchedBegin(reserved: postgres.ReservedSql) {
  let connection: PostgresConnection | undefined;
  let lostWith: Error | undefined;
  let markLost!: (error: Error) => void;
  const lost = new Promise<never>((_, reject) => (markLost = reject));
  lost.catch(() => {}); // only ever raced against the statements
  const onexecute = (opened: PostgresConnection) => {
    connection = opened;
    opened.onclose = (error) => {
      lostWith = error;
      markLost(error);
    };
    return true; // the statements behind BEGIN may be sent with it
  };
  const begun = reserved.unsafe('begin', [], { onexecute } as postgres.UnsafeQueryOptions).execute();
  begun.catch(() => {}); // awaited at commit; the work's own statements fail first if it does
  const guarded = <R>(statement: () => Promise<R>): Promise<R> =>
    lostWith ? Promise.reject(lostWith) : Promise.race([statement(), lost]);
  const direct = executor(reserved);
  const tx: SqlExecutor = {
    query: <R extends Row>(text: string, params?: readonly unknown[]) => guarded(() => direct.query<R>(text, params)),
    exec: (script: string) => guarded(() => direct.exec(script)),
  };
  return {
    tx,
    commit: async () => {
      // Without it, nothing watched the connection: refuse to report a commit that may not be one.
      if (!connection) throw new Error('postgres.js did not report the connection BEGIN ran on');
      const [, committed] = (await Promise.all([begun, guarded(() => reserved.unsafe('commit'))])) as unknown as [
        unknown,
        Completion,
      ];
      return committed.command === 'COMMIT';
    },
    rollback: () => guarded(() => reserved.unsafe('rollback')).catch(() => {}),
    /** Gives the connection back to the pool, which has already taken it back if it was lost. */
    release: () => {
      if (lostWith) return;
      if (connection) connection.onclose = null;
      reserved.release();
    },
  };
}

/**
 * A transaction on a connection of its own, whose statements postgres.js pipelines: BEGIN is not
 * awaited, so it travels with the work's first statement instead of costing a round trip of its own
 * (sql.begin awaits it). A statement that failed, even one the work caught, has aborted the
 * transaction: PostgreSQL then answers COMMIT with ROLLBACK, and the transaction fails. A connection
 * lost in between fails the transaction, and none of its statements runs anywhere else.
 */
async function transaction<T>(sql: postgres.Sql, work: (tx: TransactionExecutor) => Promise<T>): Promise<T> {
  const reserved = await sql.reserve();
  const session = watchedBegin(reserved);
  try {
    const { tx } = session;
    const result = await work({ ...tx, savepoint: (inner) => underSavepoint(tx, inner) });
    if (!(await session.commit())) throw new Error('the transaction was rolled back: one of its statements failed');
    return result;
  } catch (error) {
    await session.rollback();
    throw error;
  } finally {
    session.release();
  }
}
