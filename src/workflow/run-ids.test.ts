import { describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { raisedEventId, runIdFor, runIdSql } from './run-ids.js';

describe('derived ids', () => {
  it('are UUID-shaped, stable and keep their two parts apart', () => {
    expect(runIdFor('rule', 'event')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(runIdFor('rule', 'event')).toBe(runIdFor('rule', 'event'));
    expect(runIdFor('a', 'bc')).not.toBe(runIdFor('ab', 'c'));
    expect(raisedEventId('run', 0)).not.toBe(raisedEventId('run', 1));
  });

  it('are derived alike in SQL and in JavaScript, multi-byte text included', async () => {
    const db = new PGlite();
    try {
      for (const [rule, event] of [
        ['0b6c3c1e-rule', 'evt-1'],
        ['règle', 'événement'],
      ] as const) {
        const { rows } = await db.query<{ id: string }>(`SELECT ${runIdSql('$1::text', '$2::text')} AS id`, [
          rule,
          event,
        ]);
        expect(rows[0]!.id).toBe(runIdFor(rule, event));
      }
    } finally {
      await db.close();
    }
  });
});
