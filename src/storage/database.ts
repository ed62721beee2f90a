/**
 * The one seam between Meridian and its SQL engine. PostgreSQL (postgres.js) and PGlite speak the
 * same dialect, so every repository is written once against this port.
 */
export type Row = Record<string, unknown>;

export interface SqlExecutor {
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface TransactionExecutor extends SqlExecutor {
  /** Runs `work` under a savepoint: when it throws, only its statements are undone and the transaction goes on. */
  savepoint<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

export interface Database extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  /** The schema that holds this data context (see schemaFor). */
  readonly schema: string;
  transaction<T>(work: (tx: TransactionExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Runs `work` under a savepoint of the transaction `tx`: when it throws, only its statements are undone. */
export async function underSavepoint<T>(tx: SqlExecutor, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  await tx.query('SAVEPOINT meridian_savepoint');
  try {
    const result = await work(tx);
    await tx.query('RELEASE SAVEPOINT meridian_savepoint');
    return result;
  } catch (error) {
    await tx.query('ROLLBACK TO SAVEPOINT meridian_savepoint');
    throw error;
  }
}

/** SQLSTATEs after which the same transaction can simply be run again. */
const RETRYABLE = new Set(['40001', '40P01']);

const sqlState = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

export function isRetryable(error: unknown): boolean {
  const code = sqlState(error);
  return typeof code === 'string' && RETRYABLE.has(code);
}

/**
 * SQLSTATE classes of errors a statement brings on itself, by its SQL or the data it meets
 * (cardinality, data exception, function exceptions, syntax or access rule, feature not supported,
 * program limit): unlike a deadlock, an outage or a lock timeout, running it again fails again.
 */
const STATEMENT_FAULT_CLASSES = new Set(['21', '22', '2F', '38', '39', '42', '0A', '54']);

export function isStatementFault(error: unknown): boolean {
  const code = sqlState(error);
  return typeof code === 'string' && STATEMENT_FAULT_CLASSES.has(code.slice(0, 2));
}

/** A unique constraint refused a row. */
export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === '23505';
}

const MAX_ATTEMPTS = 8;

/**
 * Runs `work` in a transaction, again (after a short random pause) when it fails with a deadlock, a
 * serialization failure or another error `retryIf` accepts, up to MAX_ATTEMPTS times.
 */
export async function retryingTransaction<T>(
  db: Database,
  work: (tx: SqlExecutor) => Promise<T>,
  retryIf: (error: unknown) => boolean = isRetryable,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work);
    } catch (error) {
      if (!retryIf(error) || attempt >= MAX_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}
