/**
 * Deploy: the configuration of the test data context copied to production (the reference's
 * "deploy"). What is configuration, and how a row of one context compares with the other's, is
 * decided here; reading and writing the two schemas is the storage adapter's.
 */
import { DomainError } from '../shared/errors.js';

export type ConfigRow = Record<string, unknown>;

export interface DeployedTable {
  table: string;
  /** Columns the running system writes (progress, failures, counters): neither compared nor copied. */
  runtime: readonly string[];
  /** A column production increments on every copy of a row, asking its worker to redo the row's work. */
  request?: string;
}

const STAMPS = ['created_at', 'updated_at'];

/** In the order they are written: a rule names its flow, which must be there first. */
export const DEPLOYED_TABLES: readonly DeployedTable[] = [
  { table: 'event_sources', runtime: [] },
  {
    table: 'segments',
    runtime: ['last_run_at', 'failed_at', 'failure', 'resegment_requested', 'resegment_queued'],
    // a segment new or changed in production has its members decided again
    request: 'resegment_requested',
  },
  { table: 'mappings', runtime: [] },
  { table: 'flows', runtime: [] },
  { table: 'rules', runtime: [] },
  { table: 'identification_points', runtime: [] },
  { table: 'redirects', runtime: [] },
  { table: 'imports', runtime: [] },
];

/**
 * `kept`: a row only production has, which a deploy never deletes. `conflict`: a row whose copy would
 * take a unique value (a segment's machine name) that a kept row holds; a deploy refuses to run.
 */
export type DeployAction = 'create' | 'change' | 'unchanged' | 'kept' | 'conflict';

export interface RowRef {
  id: string;
  name: string | null;
}

export interface DeployItem extends RowRef {
  table: string;
  action: DeployAction;
  /** For a change: the columns whose values differ; for a conflict: the unique columns both rows share. */
  fields?: string[];
  /** For a conflict: production's row that holds the value. */
  conflictsWith?: RowRef;
}

/** Columns of `table` that a deploy compares and copies. */
export function copiedColumns(spec: DeployedTable, columns: readonly string[]): string[] {
  return columns.filter((column) => !STAMPS.includes(column) && !spec.runtime.includes(column));
}

/** JSON with object keys sorted, so that two values equal as data compare equal as text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as ConfigRow)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

const nameOf = (row: ConfigRow) => (typeof row.name === 'string' ? row.name : null);

/** A unique key's value in `row`, as text; none when a column is null, which a unique constraint lets repeat. */
function keyOf(row: ConfigRow, key: readonly string[]): string | undefined {
  return key.some((column) => row[column] === null || row[column] === undefined)
    ? undefined
    : canonical(key.map((column) => row[column]));
}

/**
 * The kept row (only production has it) whose value of a unique key `row` would take once copied.
 * Rows both contexts have are overwritten by the same deploy, so two of them trading values is no
 * collision: production checks those constraints at the deploy's commit (DEFERRABLE).
 */
function collision(
  row: ConfigRow,
  kept: readonly ConfigRow[],
  uniqueKeys: readonly (readonly string[])[],
): { key: readonly string[]; holder: ConfigRow } | undefined {
  for (const key of uniqueKeys) {
    const value = keyOf(row, key);
    const holder = value === undefined ? undefined : kept.find((other) => keyOf(other, key) === value);
    if (holder) return { key, holder };
  }
  return undefined;
}

/**
 * What copying `from` over `to` does to each row, by id: a deploy adds and updates, it never deletes.
 * `uniqueKeys`: the table's unique constraints other than its id, each as its columns.
 */
export function planTable(
  spec: DeployedTable,
  columns: readonly string[],
  from: readonly ConfigRow[],
  to: readonly ConfigRow[],
  uniqueKeys: readonly (readonly string[])[] = [],
): DeployItem[] {
  const compared = copiedColumns(spec, columns);
  const existing = new Map(to.map((row) => [String(row.id), row]));
  const copied = new Set(from.map((row) => String(row.id)));
  const keptRows = to.filter((row) => !copied.has(String(row.id)));
  const kept = keptRows.map((row): DeployItem => ({
    table: spec.table,
    id: String(row.id),
    name: nameOf(row),
    action: 'kept',
  }));
  const items = from.map((row): DeployItem => {
    const id = String(row.id);
    const name = nameOf(row);
    const clash = collision(row, keptRows, uniqueKeys);
    if (clash)
      return {
        table: spec.table,
        id,
        name,
        action: 'conflict',
        fields: [...clash.key],
        conflictsWith: { id: String(clash.holder.id), name: nameOf(clash.holder) },
      };
    const target = existing.get(id);
    if (!target) return { table: spec.table, id, name, action: 'create' };
    const fields = compared.filter((column) => canonical(row[column]) !== canonical(target[column]));
    return fields.length
      ? { table: spec.table, id, name, action: 'change', fields }
      : { table: spec.table, id, name, action: 'unchanged' };
  });
  return [...items, ...kept];
}

export interface DeploySummary {
  create: number;
  change: number;
  unchanged: number;
  kept: number;
  conflict: number;
}

export function summarize(items: readonly DeployItem[]): DeploySummary {
  const summary: DeploySummary = { create: 0, change: 0, unchanged: 0, kept: 0, conflict: 0 };
  for (const item of items) summary[item.action]++;
  return summary;
}

export interface DeployReport {
  dryRun: boolean;
  from: string;
  to: string;
  /** The job that recorded the deploy (GET /jobs/{id}); none for a dry run. */
  jobId: string | null;
  summary: DeploySummary;
  items: DeployItem[];
}

export interface Deployer {
  deploy(options: { dryRun: boolean }): Promise<DeployReport>;
}

/** A deploy that would collide with production's unique values is refused whole, naming both rows of each. */
export function refuseConflicts(items: readonly DeployItem[]): void {
  const conflicts = items.filter((item) => item.action === 'conflict');
  if (conflicts.length === 0) return;
  const label = (row: RowRef) => `"${row.id}"${row.name === null ? '' : ` (${row.name})`}`;
  const details = conflicts.map((item) => ({
    field: `${item.table}.${item.fields!.join(',')}`,
    message: `the test context's ${label(item)} would take the ${item.fields!.join(', ')} of production's ${label(item.conflictsWith!)}, which a deploy keeps: rename or remove one of them`,
  }));
  throw new DomainError(
    'conflict',
    `nothing deployed: ${conflicts.length} row(s) would collide with production's unique values: ${details.map((detail) => `${detail.field}: ${detail.message}`).join('; ')}`,
    details,
  );
}
