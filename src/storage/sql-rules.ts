import type { Database } from './database.js';
import { iso, type Row } from './rows.js';
import { flowFromRow } from './sql-flows.js';
import type { Rule, RuleKind } from '../workflow/model.js';
import type { ActiveRules, RuleInput, RuleRepository, StoredRule } from '../workflow/ports.js';

/** Optional fields are left out rather than null, as the model declares them. */
const toRule = (row: Row): Rule => ({
  id: row.id as string,
  name: row.name as string,
  kind: row.kind as RuleKind,
  ...(row.event_type !== null && { eventType: row.event_type as string }),
  ...(row.source_id !== null && { sourceId: row.source_id as string }),
  ...(row.segment_id !== null && { segmentId: row.segment_id as string }),
  flowId: row.flow_id as string,
  enabled: row.enabled as boolean,
});

const toStoredRule = (row: Row): StoredRule => ({
  ...toRule(row),
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

const fields = (rule: Omit<RuleInput, 'id'>) => [
  rule.name,
  rule.kind,
  rule.eventType ?? null,
  rule.sourceId ?? null,
  rule.segmentId ?? null,
  rule.flowId,
  rule.enabled,
];

export class SqlRules implements RuleRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<StoredRule | undefined> {
    const [row] = await this.db.query('SELECT * FROM rules WHERE id = $1', [id]);
    return row && toStoredRule(row);
  }

  async list(filter: { flowId?: string } = {}): Promise<StoredRule[]> {
    const rows = await this.db.query(
      'SELECT * FROM rules WHERE $1::text IS NULL OR flow_id = $1 ORDER BY created_at, id',
      [filter.flowId ?? null],
    );
    return rows.map(toStoredRule);
  }

  async create(rule: RuleInput): Promise<StoredRule | undefined> {
    const [row] = await this.db.query(
      `INSERT INTO rules (id, name, kind, event_type, source_id, segment_id, flow_id, enabled)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING *`,
      [rule.id, ...fields(rule)],
    );
    return row && toStoredRule(row);
  }

  async update(id: string, rule: Omit<RuleInput, 'id'>): Promise<StoredRule | undefined> {
    const [row] = await this.db.query(
      `UPDATE rules SET name = $2, kind = $3, event_type = $4, source_id = $5, segment_id = $6, flow_id = $7,
              enabled = $8, updated_at = now()
        WHERE id = $1 RETURNING *`,
      [id, ...fields(rule)],
    );
    return row && toStoredRule(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM rules WHERE id = $1 RETURNING id', [id])).length > 0;
  }

  async listActiveEventRules(): Promise<ActiveRules> {
    // One statement, so the rules are those of the generation it reads.
    const rows = await this.db.query(
      `SELECT g.generation, r.*, f.answers_client, to_jsonb(f) AS flow
         FROM workflow_rules_generation g
         LEFT JOIN (rules r JOIN flows f ON f.id = r.flow_id AND f.enabled) ON r.kind = 'event' AND r.enabled
        ORDER BY r.created_at, r.id`,
    );
    return {
      generation: Number(rows[0]?.generation ?? 0),
      rules: rows
        .filter((row) => row.id !== null)
        .map((row) => ({
          rule: toRule(row),
          answersClient: row.answers_client as boolean,
          flow: flowFromRow(row.flow as Row),
        })),
    };
  }
}
