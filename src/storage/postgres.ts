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

/** What postgres.js reports of a statement besides its rows: its command tag and the backend that ran it. */
interface Completion {
  command: string;
  state: { pid: number };
}

/**
 * A transaction on a connection of its own, whose statements postgres.js pipelines: BEGIN is not
 * awaited, so it travels with the work's first statement instead of costing a round trip of its own
 * (sql.begin awaits it). A statement that failed, even one the work caught, has aborted the
 * transaction: PostgreSQL then answers COMMIT with ROLLBACK, and the transaction fails. A connection
 * lost and reopened in between would run the later statements outside the transaction: the commit
 * is refused when it reached another backend than BEGIN did.
 */
async function transaction<T>(sql: postgres.Sql, work: (tx: TransactionExecutor) => Promise<T>): Promise<T> {
  const reserved = await sql.reserve();
  try {
    const begun = reserved.unsafe('begin').execute();
    begun.catch(() => {}); // awaited below; the work's own statements fail first if it does
    const tx = executor(reserved);
    try {
      const result = await work({ ...tx, savepoint: (inner) => underSavepoint(tx, inner) });
      const [began, committed] = (await Promise.all([begun, reserved.unsafe('commit')])) as unknown as [
        Completion,
        Completion,
      ];
      if (committed.command !== 'COMMIT')
        throw new Error('the transaction was rolled back: one of its statements failed');
      if (began.state.pid !== committed.state.pid) throw new Error('the connection was lost during the transaction');
      return result;
    } catch (error) {
      await reserved.unsafe('rollback').catch(() => {});
      throw error;
    }
  } finally {
    reserved.release();
  }
}
