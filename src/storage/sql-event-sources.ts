import type { Database } from './database.js';
import type { EventSource, EventSourceRepository } from '../tracking/ports.js';

interface SourceRow {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  [key: string]: unknown;
}

const toSource = (row: SourceRow): EventSource => ({
  id: row.id,
  name: row.name,
  description: row.description,
  enabled: row.enabled,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const COLUMNS = 'id, name, description, enabled, created_at, updated_at';

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
  async create(source: {
    id: string;
    name: string;
    description: string;
    enabled: boolean;
  }): Promise<EventSource | undefined> {
    const [row] = await this.db.query<SourceRow>(
      `INSERT INTO event_sources (id, name, description, enabled) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [source.id, source.name, source.description, source.enabled],
    );
    return row && toSource(row);
  }

  async update(
    id: string,
    changes: { name: string; description: string; enabled: boolean },
  ): Promise<EventSource | undefined> {
    const [row] = await this.db.query<SourceRow>(
      `UPDATE event_sources SET name = $2, description = $3, enabled = $4, updated_at = now()
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, changes.name, changes.description, changes.enabled],
    );
    return row && toSource(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM event_sources WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
