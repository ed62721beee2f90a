import type { Redirect, RedirectFields, RedirectRepository } from '../bridges/redirect.js';
import type { Database } from './database.js';
import { iso, type Row } from './rows.js';

const toRedirect = (row: Row): Redirect => ({
  id: row.id as string,
  name: row.name as string,
  url: row.url as string,
  eventType: row.event_type as string,
  sourceId: row.source_id as string,
  properties: row.properties as Record<string, unknown>,
  createdAt: iso(row.created_at)!,
  updatedAt: iso(row.updated_at)!,
});

const values = (fields: RedirectFields) => [
  fields.name,
  fields.url,
  fields.eventType,
  fields.sourceId,
  JSON.stringify(fields.properties),
];

export class SqlRedirects implements RedirectRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<Redirect | undefined> {
    const [row] = await this.db.query('SELECT * FROM redirects WHERE id = $1', [id]);
    return row && toRedirect(row);
  }

  async list(): Promise<Redirect[]> {
    return (await this.db.query('SELECT * FROM redirects ORDER BY created_at, id')).map(toRedirect);
  }

  async create(redirect: { id: string } & RedirectFields): Promise<Redirect | undefined> {
    const [row] = await this.db.query(
      `INSERT INTO redirects (id, name, url, event_type, source_id, properties)
       VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) ON CONFLICT (id) DO NOTHING RETURNING *`,
      [redirect.id, ...values(redirect)],
    );
    return row && toRedirect(row);
  }

  async update(id: string, fields: RedirectFields): Promise<Redirect | undefined> {
    const [row] = await this.db.query(
      `UPDATE redirects SET name = $2, url = $3, event_type = $4, source_id = $5, properties = $6::text::jsonb,
              updated_at = now()
        WHERE id = $1 RETURNING *`,
      [id, ...values(fields)],
    );
    return row && toRedirect(row);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM redirects WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
