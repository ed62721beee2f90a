import postgres from 'postgres';
import type { Database, Row, SqlExecutor } from './database.js';
import { quoteIdent } from './database.js';

type Sql = postgres.Sql | postgres.TransactionSql;

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
    // postgres.js fails a transaction after any failed statement, even a caught one, unless the
    // statement ran in its own savepoint scope.
    transaction: (work) =>
      sql.begin((tx) =>
        work({
          ...executor(tx),
          savepoint: (inner) => tx.savepoint((scope) => inner(executor(scope))) as Promise<never>,
        }),
      ) as Promise<never>,
    close: () => sql.end({ timeout: 5 }),
  };
}
