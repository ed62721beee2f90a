import type { Database } from './database.js';
import { iso, type Row } from './rows.js';
import type { Flow, FlowGraph, FlowType } from '../workflow/model.js';
import type { FlowInput, FlowRepository, FlowSummary, StoredFlow } from '../workflow/ports.js';

const SUMMARY_COLUMNS = 'id, name, description, type, enabled, answers_client, created_at, updated_at';

/** A flow as a run sees it, from its row (or the row as JSON, `to_jsonb(f)`). */
export const flowFromRow = (row: Row): Flow => ({
  id: row.id as string,
  name: row.name as string,
  description: row.description as string,
  type: row.type as FlowType,
  enabled: row.enabled as boolean,
  graph: row.graph as FlowGraph,
});

const toFlow = (row: Row): StoredFlow => ({
  ...flowFromRow(row),
  answersClient: row.answers_client as boolean,
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

/** A flow read without its graph (SUMMARY_COLUMNS). */
const toSummary = (row: Row): FlowSummary => {
  const { graph: _graph, ...summary } = toFlow(row);
  return summary;
};

const fields = (flow: Omit<FlowInput, 'id'>) => [
  flow.name,
  flow.description,
  flow.type,
  flow.enabled,
  JSON.stringify(flow.graph),
  flow.answersClient,
];

export class SqlFlows implements FlowRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<StoredFlow | undefined> {
    const [row] = await this.db.query('SELECT * FROM flows WHERE id = $1', [id]);
    return row && toFlow(row);
  }

  async list(): Promise<FlowSummary[]> {
    return (await this.db.query(`SELECT ${SUMMARY_COLUMNS} FROM flows ORDER BY created_at, id`)).map(toSummary);
  }

  async create(flow: FlowInput): Promise<StoredFlow | undefined> {
    const [row] = await this.db.query(
      `INSERT INTO flows (id, name, description, type, enabled, graph, answers_client)
       VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7) ON CONFLICT (id) DO NOTHING RETURNING *`,
      [flow.id, ...fields(flow)],
    );
    return row && toFlow(row);
  }

  async update(id: string, flow: Omit<FlowInput, 'id'>): Promise<StoredFlow | undefined> {
    const [row] = await this.db.query(
      `UPDATE flows SET name = $2, description = $3, type = $4, enabled = $5, graph = $6::text::jsonb,
              answers_client = $7, updated_at = now()
        WHERE id = $1 RETURNING *`,
      [id, ...fields(flow)],
    );
    return row && toFlow(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM flows WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
