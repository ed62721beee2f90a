import type { Database } from './database.js';
import type { EventSource, EventSourceFields, EventSourceRepository } from '../tracking/ports.js';

interface SourceRow {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  type: string;
  config: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  [key: string]: unknown;
}

const toSource = (row: SourceRow): EventSource => ({
  id: row.id,
  name: row.name,
  description: row.description,
  enabled: row.enabled,
  type: row.type,
  config: row.config,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const COLUMNS = 'id, name, description, enabled, type, config, created_at, updated_at';

export class SqlEventSources implements EventSourceRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<EventSource | undefined> {
    const [row] = await this.db.query<SourceRow>(`SELECT ${COLUMNS} FROM event_sources WHERE id = $1`, [id]);
    return row && toSource(row);
  }

  async list(): Promise<EventSource[]> {
    return (await this.db.query<SourceRow>(`SELECT ${COLUMNS} FROM event_sources ORDER BY created_at, id`)).map(
      toSource,
    );
  }

  /** Undefined when the id is taken. */
  async create(source: { id: string } & EventSourceFields): Promise<EventSource | undefined> {
    const [row] = await this.db.query<SourceRow>(
      `INSERT INTO event_sources (id, name, description, enabled, type, config) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [source.id, source.name, source.description, source.enabled, source.type, JSON.stringify(source.config)],
    );
    return row && toSource(row);
  }

  async update(id: string, changes: EventSourceFields): Promise<EventSource | undefined> {
    const [row] = await this.db.query<SourceRow>(
      `UPDATE event_sources SET name = $2, description = $3, enabled = $4, type = $5, config = $6::text::jsonb, updated_at = now()
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, changes.name, changes.description, changes.enabled, changes.type, JSON.stringify(changes.config)],
    );
    return row && toSource(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM event_sources WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
