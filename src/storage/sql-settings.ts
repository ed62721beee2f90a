import type { Database } from './database.js';

/** Installation facts kept with the data (e.g. the embedded admin token), so restarts keep them. */
export class SqlSettings {
  constructor(private readonly db: Database) {}

  /** Stores `value` unless the key is set already; returns what is stored. Safe under races. */
  async getOrInit<T>(key: string, value: T): Promise<T> {
    await this.db.query('INSERT INTO settings (key, value) VALUES ($1, $2::text::jsonb) ON CONFLICT (key) DO NOTHING', [
      key,
      JSON.stringify(value),
    ]);
    const [row] = await this.db.query<{ value: T }>('SELECT value FROM settings WHERE key = $1', [key]);
    return row!.value;
  }
}
