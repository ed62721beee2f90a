/**
 * Deploy: the configuration of the test data context copied to production (the reference's
 * "deploy"). What is configuration, and how a row of one context compares with the other's, is
 * decided here; reading and writing the two schemas is the storage adapter's.
 */
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

/** `kept`: a row only production has, which a deploy never deletes. */
export type DeployAction = 'create' | 'change' | 'unchanged' | 'kept';

export interface DeployItem {
  table: string;
  id: string;
  name: string | null;
  action: DeployAction;
  /** For a change: the columns whose values differ. */
  fields?: string[];
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

/** What copying `from` over `to` does to each row, by id: a deploy adds and updates, it never deletes. */
export function planTable(
  spec: DeployedTable,
  columns: readonly string[],
  from: readonly ConfigRow[],
  to: readonly ConfigRow[],
): DeployItem[] {
  const compared = copiedColumns(spec, columns);
  const existing = new Map(to.map((row) => [String(row.id), row]));
  const nameOf = (row: ConfigRow) => (typeof row.name === 'string' ? row.name : null);
  const copied = new Set(from.map((row) => String(row.id)));
  const kept = to
    .filter((row) => !copied.has(String(row.id)))
    .map((row): DeployItem => ({ table: spec.table, id: String(row.id), name: nameOf(row), action: 'kept' }));
  const items = from.map((row): DeployItem => {
    const id = String(row.id);
    const name = nameOf(row);
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
}

export function summarize(items: readonly DeployItem[]): DeploySummary {
  const summary: DeploySummary = { create: 0, change: 0, unchanged: 0, kept: 0 };
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
