import type { Database, SqlExecutor } from './database.js';
import type { Mapping, MappingInput } from '../mapping/mapping.js';
import type { MappingRepository } from '../mapping/ports.js';

type Row = Record<string, unknown>;

const toMapping = (row: Row): Mapping =>
  ({
    id: row.id,
    name: row.name,
    kind: row.kind,
    eventType: row.event_type,
    mapping: row.mapping,
    condition: row.condition,
    enabled: row.enabled,
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  }) as Mapping;

const fields = (mapping: MappingInput) => [
  mapping.name,
  mapping.kind,
  mapping.eventType,
  JSON.stringify(mapping.mapping),
  mapping.condition,
  mapping.enabled,
];

export class SqlMappings implements MappingRepository {
  constructor(private readonly db: Database) {}

  async get(id: string): Promise<Mapping | undefined> {
    const [row] = await this.db.query('SELECT * FROM mappings WHERE id = $1', [id]);
    return row && toMapping(row);
  }

  async list(): Promise<Mapping[]> {
    return (await this.db.query('SELECT * FROM mappings ORDER BY created_at, id')).map(toMapping);
  }

  async listEnabled(): Promise<Mapping[]> {
    return (await this.db.query('SELECT * FROM mappings WHERE enabled ORDER BY created_at, id')).map(toMapping);
  }

  async create(mapping: MappingInput & { id: string }): Promise<Mapping | undefined> {
    const [row] = await this.db.query(
      `INSERT INTO mappings (id, name, kind, event_type, mapping, condition, enabled)
       VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING *`,
      [mapping.id, ...fields(mapping)],
    );
    return row && toMapping(row);
  }

  async update(id: string, mapping: MappingInput): Promise<Mapping | undefined> {
    const [row] = await this.db.query(
      `UPDATE mappings SET name = $2, kind = $3, event_type = $4, mapping = $5::text::jsonb, condition = $6, enabled = $7,
              updated_at = now()
        WHERE id = $1 RETURNING *`,
      [id, ...fields(mapping)],
    );
    return row && toMapping(row);
  }

  delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM mapping_applied WHERE mapping_id = $1', [id]);
      return (await tx.query('DELETE FROM mappings WHERE id = $1 RETURNING id', [id])).length > 0;
    });
  }
}

/**
 * Records that event-to-profile mappings were applied to events, in the caller's transaction (the
 * one that changed the profiles): a later backfill of the same mapping then skips those events.
 */
export async function recordAppliedMappings(
  tx: SqlExecutor,
  applied: readonly { mappingId: string; eventId: string }[],
): Promise<void> {
  if (applied.length === 0) return;
  await tx.query(
    `INSERT INTO mapping_applied (mapping_id, event_id)
     SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
    [applied.map((pair) => pair.mappingId), applied.map((pair) => pair.eventId)],
  );
}

/** The events among `eventIds` the mapping was already applied to. */
export async function appliedEventIds(
  tx: SqlExecutor,
  mappingId: string,
  eventIds: readonly string[],
): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const rows = await tx.query<{ event_id: string }>(
    'SELECT event_id FROM mapping_applied WHERE mapping_id = $1 AND event_id = ANY($2::text[])',
    [mappingId, eventIds],
  );
  return new Set(rows.map((row) => row.event_id));
}
