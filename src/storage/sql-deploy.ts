/**
 * Deploy across the two data contexts' schemas, which live in one database: every row is read and
 * written by its schema-qualified name, so either context's process can run it. The copy is one
 * transaction: production never sees a rule without its flow, nor half a configuration.
 */
import { randomUUID } from 'node:crypto';
import { DomainError } from '../shared/errors.js';
import { SecretBox } from '../importing/secrets.js';
import {
  copiedColumns,
  DEPLOYED_TABLES,
  planTable,
  refuseConflicts,
  summarize,
  type ConfigRow,
  type DeployedTable,
  type Deployer,
  type DeployItem,
  type DeployReport,
} from '../deploy/plan.js';
import { isUniqueViolation, quoteIdent, type Database, type SqlExecutor } from './database.js';
import { loadMigrations } from './migrate.js';
import { claimBatch, completeBatch, createRun } from './sql-job-runs.js';

export interface DeployOptions {
  from: string;
  to: string;
  /** IMPORT_SECRET_KEY; unset, each context's credentials are under the key kept in its settings. */
  secretKey?: string;
}

const SECRET_KEY_SETTING = 'import_secret_key';
const DEPLOY_LOCK = 'meridian:deploy';

interface TablePlan {
  spec: DeployedTable;
  columns: string[];
  rows: Map<string, ConfigRow>;
  items: DeployItem[];
}

export class SqlDeploy implements Deployer {
  constructor(
    private readonly db: Database,
    private readonly options: DeployOptions,
  ) {}

  async deploy({ dryRun }: { dryRun: boolean }): Promise<DeployReport> {
    try {
      return await this.run(dryRun);
    } catch (error) {
      // The plan foresees collisions with kept rows; one it could not (a row production wrote meanwhile,
      // a constraint checked at commit) is refused the same way, with PostgreSQL's words for it.
      if (!isUniqueViolation(error)) throw error;
      const { message, detail } = error as { message: string; detail?: string };
      throw new DomainError('conflict', `nothing deployed: production refused a copied row: ${message}`, [
        { field: this.options.to, message: detail ?? message },
      ]);
    }
  }

  private async run(dryRun: boolean): Promise<DeployReport> {
    const { from, to } = this.options;
    return this.db.transaction(async (tx) => {
      // One deploy at a time, whichever process runs it: the next plans from what this one committed.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [DEPLOY_LOCK]);
      await this.checkVersions(tx);
      const plans = await this.plan(tx);
      const items = plans.flatMap((plan) => plan.items);
      const report = { dryRun, from, to, jobId: null, summary: summarize(items), items };
      if (dryRun) return report;
      refuseConflicts(items);
      const jobId = randomUUID();
      const writes = report.summary.create + report.summary.change;
      await createRun(
        tx,
        { id: jobId, kind: 'deploy', subject: `${from} → ${to}`, params: { ...report.summary } },
        { sql: 'SELECT 1, 0::bigint, 0::bigint, $2::int WHERE $2::int > 0', params: [writes] },
      );
      if (writes > 0) {
        await claimBatch(tx, jobId, 1);
        // Unique values the copied rows trade among themselves (two segments swapping names) are
        // checked once all are written.
        await tx.query('SET CONSTRAINTS ALL DEFERRED');
        const key = await this.key(tx, to, true);
        for (const plan of plans) await this.write(tx, plan, key);
        await completeBatch(tx, jobId, { items: writes, errors: 0 });
      }
      return { ...report, jobId };
    });
  }

  /**
   * Both contexts must be at the same migration, and at least at this version's last one (`meridian
   * deploy` migrates neither): else the copy would miss columns, tables or constraints. The refusal
   * says which context to migrate, and how.
   */
  private async checkVersions(tx: SqlExecutor): Promise<void> {
    const { from, to } = this.options;
    const [test, production] = await Promise.all([this.version(tx, from), this.version(tx, to)]);
    if (test === null) throw new DomainError('conflict', `${from} has no schema: nothing to deploy`);
    const latest = Math.max(...loadMigrations().map((migration) => migration.version));
    const needed = Math.max(test, production ?? 0, latest);
    if (test === needed && production === needed) return;
    const commands = [
      ...(production === needed ? [] : ['`PRODUCTION=yes meridian migrate`']),
      ...(test === needed ? [] : ['`PRODUCTION=no meridian migrate`']),
    ];
    const embedded =
      this.db.kind === 'pglite'
        ? '; the embedded store opens in one process at a time: stop `meridian start` first, and start it again after'
        : '';
    throw new DomainError(
      'conflict',
      `${to} is at migration ${production ?? 'none'} and ${from} at ${test}, and a deploy needs both at ${needed}` +
        `${latest === needed ? ", this version's last" : ''}: run ${commands.join(' and ')} first${embedded}`,
    );
  }

  private async version(tx: SqlExecutor, schema: string): Promise<number | null> {
    const [exists] = await tx.query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [
      `${quoteIdent(schema)}.schema_migrations`,
    ]);
    if (!exists?.table) return null;
    const [row] = await tx.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${quoteIdent(schema)}.schema_migrations`,
    );
    return row?.version ?? null;
  }

  /**
   * Every copied table of both contexts is read by one statement, so under one snapshot: a rule and
   * the flow it names, saved meanwhile, are both in the plan or neither is. (REPEATABLE READ would take
   * its snapshot with the transaction's first statement, the advisory lock, before waiting for it, so a
   * deploy that waited would plan from what was there before the one it waited for.)
   */
  private async plan(tx: SqlExecutor): Promise<TablePlan[]> {
    const { from, to } = this.options;
    const rowsOf = (schema: string) =>
      `jsonb_build_array(${DEPLOYED_TABLES.map(
        ({ table }) =>
          `(SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM ${quoteIdent(schema)}.${quoteIdent(table)} t)`,
      ).join(', ')})`;
    const [read] = await tx.query<{ from: ConfigRow[][]; to: ConfigRow[][] }>(
      `SELECT ${rowsOf(from)} AS "from", ${rowsOf(to)} AS "to"`,
    );
    const plans: TablePlan[] = [];
    for (const [index, spec] of DEPLOYED_TABLES.entries()) {
      const columns = (
        await tx.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
            ORDER BY ordinal_position`,
          [from, spec.table],
        )
      ).map((row) => row.column_name);
      const fromRows = await this.openSecrets(tx, from, read!.from[index]!);
      const toRows = await this.openSecrets(tx, to, read!.to[index]!);
      plans.push({
        spec,
        columns,
        rows: new Map(fromRows.map((row) => [String(row.id), row])),
        items: planTable(spec, columns, fromRows, toRows, await this.uniqueKeys(tx, spec.table)),
      });
    }
    return plans;
  }

  /** Production's unique constraints on `table` other than its primary key, each as its columns. */
  private async uniqueKeys(tx: SqlExecutor, table: string): Promise<string[][]> {
    const rows = await tx.query<{ columns: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY k.position) AS columns
         FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = to_regclass($1) AND i.indisunique AND NOT i.indisprimary
          AND i.indexprs IS NULL AND i.indpred IS NULL
        GROUP BY i.indexrelid ORDER BY i.indexrelid`,
      [`${quoteIdent(this.options.to)}.${quoteIdent(table)}`],
    );
    return rows.map((row) => row.columns);
  }

  /** Rows with their credentials opened, so that the same password sealed twice compares equal. */
  private async openSecrets(tx: SqlExecutor, schema: string, rows: ConfigRow[]): Promise<ConfigRow[]> {
    if (!rows.some((row) => typeof row.secret === 'string')) return rows;
    const key = await this.key(tx, schema, false);
    return rows.map((row) =>
      typeof row.secret === 'string' ? { ...row, secret: this.crypt('open', row, schema, key) } : row,
    );
  }

  /**
   * The key a context's credentials are sealed with: IMPORT_SECRET_KEY, else the one kept in its settings,
   * which `init` creates when the context has none yet.
   */
  private async key(tx: SqlExecutor, schema: string, init: boolean): Promise<string | undefined> {
    if (this.options.secretKey) return this.options.secretKey;
    const settings = `${quoteIdent(schema)}.settings`;
    if (init)
      await tx.query(`INSERT INTO ${settings} (key, value) VALUES ($1, $2::text::jsonb) ON CONFLICT (key) DO NOTHING`, [
        SECRET_KEY_SETTING,
        JSON.stringify(SecretBox.generateKey()),
      ]);
    const [row] = await tx.query<{ value: string }>(`SELECT value FROM ${settings} WHERE key = $1`, [
      SECRET_KEY_SETTING,
    ]);
    return row?.value;
  }

  /**
   * An import's credential opened with, or sealed under, `schema`'s key. One that does not fit (a context
   * that had IMPORT_SECRET_KEY when the other had none, or another one) refuses the deploy, naming the
   * import and the context.
   */
  private crypt(work: 'open' | 'seal', row: ConfigRow, schema: string, key: string | undefined): string {
    try {
      if (key === undefined) throw new Error(`${schema} keeps no key in its settings`);
      return new SecretBox(key)[work](row.secret as string);
    } catch (error) {
      const keyName = this.options.secretKey ? 'IMPORT_SECRET_KEY' : `the key kept in ${schema}'s settings`;
      const problem = `the credentials of import "${String(row.id)}" in ${schema} cannot be ${work === 'open' ? 'opened' : 'sealed'} with ${keyName} (${(error as Error).message})`;
      throw new DomainError(
        'conflict',
        `nothing deployed: ${problem}: both contexts must share IMPORT_SECRET_KEY, or both leave it unset`,
        [{ field: `${schema}.imports.secret`, message: problem }],
      );
    }
  }

  private async write(tx: SqlExecutor, plan: TablePlan, key: string | undefined): Promise<void> {
    const { spec } = plan;
    const table = `${quoteIdent(this.options.to)}.${quoteIdent(spec.table)}`;
    const columns = copiedColumns(spec, plan.columns).map(quoteIdent);
    const updates = columns
      .filter((column) => column !== '"id"')
      .map((column) => `${column} = EXCLUDED.${column}`)
      .concat('"updated_at" = now()');
    const request = spec.request && quoteIdent(spec.request);
    const upsert = `INSERT INTO ${table} (${columns.join(', ')})
         SELECT ${columns.join(', ')} FROM jsonb_populate_record(NULL::${table}, $1::text::jsonb)
       ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')}`;
    for (const item of plan.items) {
      if (item.action !== 'create' && item.action !== 'change') continue;
      const row = plan.rows.get(item.id)!;
      const sealed =
        typeof row.secret === 'string' ? { ...row, secret: this.crypt('seal', row, this.options.to, key) } : row;
      await tx.query(upsert, [JSON.stringify(sealed)]);
      if (request) await tx.query(`UPDATE ${table} SET ${request} = ${request} + 1 WHERE id = $1`, [item.id]);
    }
  }
}
