/**
 * kill -9 of `meridian import run` mid-run, then `meridian import resume`: every row stored once.
 * Needs PostgreSQL and the compiled CLI (npm run build).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { runMeridian } from './support/processes.js';

const ROWS = 4000;

describe('an import run killed with SIGKILL', () => {
  let database: TestDatabase | undefined;
  let sql: postgres.Sql;
  let dir: string;
  beforeAll(async () => {
    if (!(await postgresAvailable())) return;
    database = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'meridian-import-kill-'));
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('resumes from its checkpoint and stores every row once', async ({ skip }) => {
    if (!database) return skip();
    const env = { DATABASE_URL: database.url };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    await sql.unsafe(`INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history')`);
    const path = join(dir, 'rows.csv');
    writeFileSync(path, `id,who\n${Array.from({ length: ROWS }, (_, i) => `${i},w${i % 13}`).join('\n')}\n`);

    const first = runMeridian(
      [
        'import',
        'file',
        path,
        '--event-type',
        'killed',
        '--source',
        'history',
        '--profile',
        'who',
        '--batch-size',
        '100',
        '--rows-per-second',
        '2000',
      ],
      env,
    );
    const runs = () => sql.unsafe(`SELECT id, rows_read::int AS read FROM meridian_test.import_runs`);
    const started = await eventually(runs, (rows) => rows.length === 1 && Number(rows[0]!['read']) >= 600);
    first.child.kill('SIGKILL');
    await first.exited;
    const runId = started[0]!['id'] as string;
    const [killed] = await sql.unsafe(`SELECT state, rows_read::int AS read FROM meridian_test.import_runs`);
    expect(killed).toMatchObject({ state: 'running' });
    expect(killed!['read']).toBeLessThan(ROWS);

    const resumed = runMeridian(['import', 'resume', runId], env);
    expect(await resumed.exited, resumed.output()).toBe(0);
    const [run] = await sql.unsafe(
      `SELECT state, rows_read::int AS read, rows_stored::int AS stored FROM meridian_test.import_runs`,
    );
    // A batch counts with its checkpoint: the one the kill interrupted is read again and counted once.
    expect(run).toEqual({ state: 'done', read: ROWS, stored: ROWS });
    const [events] = await sql.unsafe(
      `SELECT count(*)::int AS n, count(DISTINCT properties->>'id')::int AS rows FROM meridian_test.events WHERE type = 'killed'`,
    );
    expect(events).toEqual({ n: ROWS, rows: ROWS });
    // Rows appended to a session stored by an earlier batch are counted on it when the run settles: the
    // killed run's among them, once, whichever run settles them.
    const sessions = await sql.unsafe(
      `SELECT s.events_count, (SELECT count(*)::int FROM meridian_test.events e
                                WHERE e.session_id = s.id AND NOT e.metadata ? 'system') AS stored
         FROM meridian_test.sessions s`,
    );
    expect(sessions).toHaveLength(13);
    for (const session of sessions) expect(session['events_count']).toBe(session['stored']);
    expect(await sql.unsafe(`SELECT 1 FROM meridian_test.session_touches`)).toEqual([]);
  }, 60_000);
});
