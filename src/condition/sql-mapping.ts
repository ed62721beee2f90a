/**
 * How profile@, event@ and session@ documents are laid out in SQL tables. The SQL compiler reads a
 * document path through this mapping, and documentFromRow builds the very same document in
 * JavaScript from a table row, so the evaluator and the database always see one shape.
 */
import type { SourceName } from './ast.js';

export type ColumnType = 'jsonb' | 'text' | 'text[]' | 'boolean' | 'integer' | 'timestamptz';

export interface ColumnMapping {
  /** Where the column's value sits in the document. */
  path: readonly string[];
  column: string;
  type: ColumnType;
}

export interface SourceTableMapping {
  table: string;
  alias: string;
  /**
   * Columns by document path. A jsonb column mapped to a path that other columns are nested under
   * (profile `metadata`) is the base of that object: its keys appear, and the nested columns win.
   */
  columns: readonly ColumnMapping[];
}

export type SqlSource = Extract<SourceName, 'profile' | 'event' | 'session'>;
export type SqlMapping = Partial<Record<SqlSource, SourceTableMapping>>;

const column = (path: string, name: string, type: ColumnType): ColumnMapping => ({
  path: path.split('.'),
  column: name,
  type,
});

export const DEFAULT_SQL_MAPPING: SqlMapping = {
  profile: {
    table: 'profiles',
    alias: 'p',
    columns: [
      column('id', 'id', 'text'),
      column('ids', 'ids', 'text[]'),
      column('traits', 'traits', 'jsonb'),
      column('pii', 'pii', 'jsonb'),
      column('data', 'data', 'jsonb'),
      column('stats', 'stats', 'jsonb'),
      column('consents', 'consents', 'jsonb'),
      column('segments', 'segments', 'text[]'),
      column('active', 'active', 'boolean'),
      column('metadata', 'metadata', 'jsonb'),
      column('metadata.time.create', 'created_at', 'timestamptz'),
      column('metadata.time.update', 'updated_at', 'timestamptz'),
      column('metadata.time.visit.last', 'last_visit_at', 'timestamptz'),
      column('metadata.time.visit.current', 'current_visit_at', 'timestamptz'),
      column('metadata.time.visit.count', 'visits', 'integer'),
    ],
  },
  event: {
    table: 'events',
    alias: 'e',
    columns: [
      column('id', 'id', 'text'),
      column('type', 'type', 'text'),
      column('profile.id', 'profile_id', 'text'),
      column('session.id', 'session_id', 'text'),
      column('source.id', 'source_id', 'text'),
      column('properties', 'properties', 'jsonb'),
      column('traits', 'traits', 'jsonb'),
      column('context', 'context', 'jsonb'),
      column('tags', 'tags', 'text[]'),
      column('metadata.time.insert', 'inserted_at', 'timestamptz'),
      column('metadata.time.occurred', 'occurred_at', 'timestamptz'),
    ],
  },
  session: {
    table: 'sessions',
    alias: 's',
    columns: [
      column('id', 'id', 'text'),
      column('profile.id', 'profile_id', 'text'),
      column('context', 'context', 'jsonb'),
      column('metadata', 'metadata', 'jsonb'),
      column('device', 'device', 'jsonb'),
      column('os', 'os', 'jsonb'),
      column('app', 'app', 'jsonb'),
      column('metadata.time.insert', 'created_at', 'timestamptz'),
      column('metadata.time.update', 'last_event_at', 'timestamptz'),
    ],
  },
};

/** The document tree of a mapping: leaves are columns, inner nodes objects (optionally over a jsonb base). */
export interface MappingNode {
  column?: ColumnMapping;
  children: Map<string, MappingNode>;
}

const trees = new WeakMap<SourceTableMapping, MappingNode>();

export function mappingTree(mapping: SourceTableMapping): MappingNode {
  let root = trees.get(mapping);
  if (root) return root;
  root = { children: new Map() };
  for (const mapped of mapping.columns) {
    let node = root;
    for (const key of mapped.path) {
      let child = node.children.get(key);
      if (!child) node.children.set(key, (child = { children: new Map() }));
      node = child;
    }
    node.column = mapped;
  }
  validate(root, mapping.table);
  trees.set(mapping, root);
  return root;
}

function validate(node: MappingNode, table: string): void {
  if (node.column && node.children.size > 0 && node.column.type !== 'jsonb') {
    throw new Error(`${table}.${node.column.column}: only a jsonb column can have columns nested under it`);
  }
  for (const child of node.children.values()) validate(child, table);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);

/** Timestamps appear in documents as ISO-8601 UTC text with milliseconds, like Date#toISOString. */
function columnValue(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'timestamptz') return (value instanceof Date ? value : new Date(String(value))).toISOString();
  if (type === 'integer') return Number(value);
  return value;
}

/** Builds the document the evaluator sees from a row keyed by column name. */
export function documentFromRow(mapping: SourceTableMapping, row: Record<string, unknown>): Record<string, unknown> {
  return buildNode(mappingTree(mapping), row) as Record<string, unknown>;
}

function buildNode(node: MappingNode, row: Record<string, unknown>): unknown {
  const own = node.column ? columnValue(node.column.type, row[node.column.column]) : undefined;
  if (node.children.size === 0) return own;
  const document: Record<string, unknown> = isPlainObject(own) ? { ...own } : {};
  for (const [key, child] of node.children) document[key] = buildNode(child, row);
  return document;
}
