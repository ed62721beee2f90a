/**
 * `meridian import file` from the command line: killed with -9 mid-run, then `meridian import resume`;
 * and run again on the same file. Every row stored once. Needs PostgreSQL and the compiled CLI (npm run build).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../src/cli/composition.js';
import { loadConfig } from '../src/config/config.js';
import { TEST_TOKEN } from './support/api.js';
import { eventually } from './support/eventually.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { MERIDIAN_BIN, runMeridian } from './support/processes.js';
import { screenLines } from './support/terminal.js';

const ROWS = 4000;

/**
 * A database of its own (migrated by the test), a connection to it and a scratch directory, for the
 * tests of the enclosing describe; `database` stays undefined without PostgreSQL.
 */
function scratch(prefix: string) {
  const context = {} as { database?: TestDatabase; sql: postgres.Sql; dir: string };
  beforeAll(async () => {
    if (!(await postgresAvailable())) return;
    context.database = await createTestDatabase();
    context.dir = mkdtempSync(join(tmpdir(), prefix));
    context.sql = postgres(context.database.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await context.sql?.end({ timeout: 1 });
    await context.database?.drop();
    if (context.dir) rmSync(context.dir, { recursive: true, force: true });
  });
  return context;
}

/** The scratch database migrated by the CLI, with the event source `history` the imports name; its environment. */
async function migratedWithHistorySource(url: string, sql: postgres.Sql): Promise<{ DATABASE_URL: string }> {
  const env = { DATABASE_URL: url };
  expect(await runMeridian(['migrate'], env).exited).toBe(0);
  await sql.unsafe(`INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history')`);
  return env;
}

describe('an import run killed with SIGKILL', () => {
  const context = scratch('meridian-import-kill-');

  it('resumes from its checkpoint and stores every row once', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = await migratedWithHistorySource(database.url, sql);
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

describe('meridian import file run again after a SIGKILL of the one before', () => {
  const context = scratch('meridian-import-takeover-');

  it('takes the killed run over once its lease ran out, and stores every row once', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    // A short lease, so the second command takes over within seconds.
    const env = { DATABASE_URL: database.url, IMPORT_LEASE_S: '2' };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    await sql.unsafe(`INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history')`);
    const path = join(dir, 'rows.csv');
    writeFileSync(path, `id,who\n${Array.from({ length: ROWS }, (_, i) => `${i},w${i % 13}`).join('\n')}\n`);
    const args = ['import', 'file', path, '--event-type', 'taken', '--source', 'history', '--profile', 'who'];
    const first = runMeridian([...args, '--batch-size', '100', '--rows-per-second', '2000'], env);
    const runs = () => sql.unsafe(`SELECT id, state, rows_read::int AS read FROM meridian_test.import_runs`);
    const started = await eventually(runs, (rows) => rows.length === 1 && Number(rows[0]!['read']) >= 600);
    first.child.kill('SIGKILL');
    await first.exited;

    const again = runMeridian(args, env);
    expect(await again.exited, again.output()).toBe(0);
    expect(again.output()).toContain(`going on with the running run ${started[0]!['id']}`);
    expect(await runs()).toEqual([{ id: started[0]!['id'], state: 'done', read: ROWS }]);
    const [events] = await sql.unsafe(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM meridian_test.events WHERE type = 'taken'`,
    );
    expect(events).toEqual({ n: ROWS, ids: ROWS });
  }, 60_000);
});

describe('meridian import file stopped by Ctrl-C or SIGTERM', () => {
  const context = scratch('meridian-import-interrupt-');

  it.for(['SIGINT', 'SIGTERM'] as const)(
    'leaves its run paused on %s and exits 1: the import is not done',
    { timeout: 60_000 },
    async (signal, { skip }) => {
      const { database, sql, dir } = context;
      if (!database) return skip();
      const env = { DATABASE_URL: database.url };
      expect(await runMeridian(['migrate'], env).exited).toBe(0);
      await sql.unsafe(
        `INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history') ON CONFLICT DO NOTHING`,
      );
      const path = join(dir, `${signal}.csv`);
      writeFileSync(path, `id,who\n${Array.from({ length: ROWS }, (_, i) => `${i},w${i % 13}`).join('\n')}\n`);
      const command = runMeridian(
        ['import', 'file', path, '--event-type', 'interrupted', '--source', 'history', '--rows-per-second', '200'],
        env,
      );
      const runs = () =>
        sql.unsafe(
          `SELECT r.id, r.state, r.rows_read::int AS read FROM meridian_test.import_runs r
             JOIN meridian_test.imports i ON i.id = r.import_id WHERE i.source->>'path' = $1`,
          [path],
        );
      await eventually(runs, (rows) => rows.length === 1 && Number(rows[0]!['read']) > 0);
      command.child.kill(signal);
      expect(await command.exited, command.output()).toBe(1);
      const [run] = await runs();
      expect(run!['state']).toBe('paused');
      expect(run!['read']).toBeLessThan(ROWS);
      expect(command.output()).toContain(`resume with: meridian import resume ${run!['id']}`);
    },
  );
});

describe('meridian import file given what it cannot run', () => {
  const context = scratch('meridian-import-refused-');

  it('refuses an event source that does not exist in one line, exits non-zero and saves nothing', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = { DATABASE_URL: database.url };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    const path = join(dir, 'orders.csv');
    writeFileSync(path, 'id\n1\n');
    const command = runMeridian(['import', 'file', path, '--event-type', 'order', '--source', 'nope'], env);
    expect(await command.exited).not.toBe(0);
    expect(command.output().trim()).toBe(
      'meridian: invalid configuration: import: eventSourceId: no event source "nope"',
    );
    expect(await sql.unsafe('SELECT id FROM meridian_test.imports')).toEqual([]);
  }, 60_000);

  it('refuses a file that is not there, or a directory, in one line naming it, and saves nothing', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = { DATABASE_URL: database.url };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    await sql.unsafe(
      `INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history') ON CONFLICT DO NOTHING`,
    );
    const missing = join(dir, 'missing.csv');
    for (const [path, reason] of [
      [missing, `cannot read ${missing}: no such file`],
      [dir, `cannot read ${dir}: it is a directory`],
    ]) {
      const command = runMeridian(['import', 'file', path!, '--event-type', 'order', '--source', 'history'], env);
      expect(await command.exited).not.toBe(0);
      expect(command.output().trim()).toBe(`meridian: invalid configuration: import: ${reason}`);
    }
    expect(await sql.unsafe('SELECT id FROM meridian_test.imports')).toEqual([]);
  }, 60_000);
});

describe('meridian import on a terminal', () => {
  const context = scratch('meridian-import-tty-');

  it('writes its log lines above the progress bar, not onto its line', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = await migratedWithHistorySource(database.url, sql);
    const path = join(dir, 'rows.csv');
    writeFileSync(path, `id\n${Array.from({ length: 30 }, (_, i) => i).join('\n')}\n`);
    // Throttled, the run lasts long enough for the bar to be drawn before the run logs that it is done.
    const command = [
      process.execPath,
      MERIDIAN_BIN,
      'import',
      'file',
      path,
      '--event-type',
      'tty',
      '--source',
      'history',
    ]
      .concat(['--rows-per-second', '20'])
      .map((word) => `'${word}'`)
      .join(' ');
    // script(1) runs it on a pseudo-terminal, stdout and stderr both, as a shell would.
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve)), output).toBe(0);
    const lines = screenLines(output);
    const logged = lines.filter((line) => line.includes('"msg":'));
    expect(logged.find((line) => line.includes('"msg":"import run done"'))).toBeDefined();
    for (const line of logged) expect(line).toMatch(/^\{.*\}$/);
    expect(lines).toContainEqual(expect.stringMatching(/^\[#{24}\] {2}100\.0% {2}30 read {2}30 stored .* done$/));
  }, 60_000);
});

describe('meridian import rejections', () => {
  const context = scratch('meridian-import-rejections-');

  it('prints the rows a run rejected, one JSON object a line, as the run itself points to', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = await migratedWithHistorySource(database.url, sql);
    const path = join(dir, 'bad.csv');
    writeFileSync(path, 'id,who\n1,ann\n2,bob,extra\n3,cy\n4\n');
    const imported = runMeridian(['import', 'file', path, '--event-type', 'order', '--source', 'history'], env);
    expect(await imported.exited, imported.output()).toBe(0);
    const job = /"job":"([^"]+)"/.exec(imported.output())![1]!;
    expect(imported.output()).toContain(
      `2 rows rejected; the first 1000, with their line or key and the reason: meridian import rejections ${job}`,
    );
    const listed = runMeridian(['import', 'rejections', job], env);
    expect(await listed.exited, listed.output()).toBe(0);
    const lines = listed.output().trim().split('\n');
    expect(lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as unknown)).toEqual([
      { ref: 'line 3', reason: 'expected 2 columns, got 3' },
      { ref: 'line 5', reason: 'expected 2 columns, got 1' },
    ]);
    expect(lines).toContain('2 rows rejected in all, 2 kept');
    const unknown = runMeridian(['import', 'rejections', 'nope'], env);
    expect(await unknown.exited).not.toBe(0);
    expect(unknown.output()).toContain('import run not found');
  }, 60_000);
});

describe('meridian import file run again', () => {
  const context = scratch('meridian-import-again-');

  it('reuses the import it saved for the same file and options, and stores each row once', async ({ skip }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = await migratedWithHistorySource(database.url, sql);
    const path = join(dir, 'orders.csv');
    writeFileSync(path, 'id,who,at\n1,ann,2024-03-01T10:00:00Z\n2,bob,2024-03-02T10:00:00Z\n');
    const importFile = async (...flags: string[]) => {
      const command = runMeridian(
        ['import', 'file', path, '--event-type', 'order', '--source', 'history', '--profile', 'who', ...flags],
        env,
      );
      expect(await command.exited, command.output()).toBe(0);
      return command.output();
    };
    const stored = async () =>
      (
        await sql.unsafe(`SELECT properties->>'id' AS id FROM meridian_test.events WHERE type = 'order' ORDER BY 1`)
      ).map((row) => row['id']);

    await importFile();
    // A throttle changes how fast, not what: still the same import.
    await importFile('--rows-per-second', '1000');
    expect(await stored()).toEqual(['1', '2']);
    // A run left paused (a Ctrl-C) is gone on with by the same command, not refused nor doubled, at the
    // throttle given now.
    const pauseLatest = async () =>
      (
        await sql.unsafe(
          `UPDATE meridian_test.import_runs SET state = 'paused'
            WHERE id = (SELECT id FROM meridian_test.import_runs ORDER BY created_at DESC LIMIT 1)
          RETURNING id, import_id`,
        )
      )[0]!;
    const paused = await pauseLatest();
    expect(await importFile('--rows-per-second', '500')).toContain(`going on with the paused run ${paused['id']}`);
    const [adopted] = await sql.unsafe(
      `SELECT config->'options' AS options FROM meridian_test.import_runs WHERE id = $1`,
      [paused['id']],
    );
    expect(adopted!['options']).toEqual({ rowsPerSecond: 500 });
    // Changed in what it stores since (PUT /imports/{id}), the import's paused run is not gone on with as if it were not.
    await pauseLatest();
    const mapping = { profileId: 'who', properties: { id: 'id' } };
    await sql.unsafe(`UPDATE meridian_test.imports SET mapping = $2 WHERE id = $1`, [
      paused['import_id'],
      sql.json(mapping),
    ]);
    const refused = runMeridian(['import', 'run', paused['import_id'] as string], env);
    expect(await refused.exited).not.toBe(0);
    expect(refused.output()).toContain(`was changed since its paused run ${paused['id']} started`);
    await sql.unsafe(`UPDATE meridian_test.imports SET mapping = $2 WHERE id = $1`, [
      paused['import_id'],
      sql.json({ profileId: 'who' }),
    ]);
    await importFile('--rows-per-second', '1000');

    const runtime = await startApi(
      loadConfig({ API_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', ...env }),
      pino({ level: 'silent' }),
    );
    try {
      const admin = async <T>(url: string) => {
        const response = await runtime.app.inject({
          method: 'GET',
          url,
          headers: { authorization: `Bearer ${TEST_TOKEN}` },
        });
        expect(response.statusCode, response.body).toBe(200);
        return response.json<T>();
      };
      const saved = await admin<{ id: string; options: object }[]>('/imports');
      expect(saved).toHaveLength(1);
      expect(saved[0]!.options).toEqual({ rowsPerSecond: 1000 });
      const runs = await admin<{ state: string; rowsRead: number }[]>(`/imports/${saved[0]!.id}/runs`);
      expect(runs.map((run) => [run.state, run.rowsRead])).toEqual([
        ['done', 2],
        ['done', 2],
      ]);

      // Another mapping makes other events: a new import, with rows of its own.
      await importFile('--time', 'at');
      const both = await admin<{ id: string; mapping: object }[]>('/imports');
      expect(both.map((saved) => saved.mapping)).toEqual(
        expect.arrayContaining([{ profileId: 'who' }, { profileId: 'who', time: 'at' }]),
      );
      expect(both).toHaveLength(2);
      expect(await stored()).toEqual(['1', '1', '2', '2']);

      // Each row's type from a column; --event-type is that of the rows holding none.
      const typed = join(dir, 'typed.csv');
      writeFileSync(typed, 'id,who,kind\n3,ann,Refund Issued\n4,bob,\n');
      const command = runMeridian(
        ['import', 'file', typed, '--event-type', 'order', '--source', 'history', '--profile', 'who', '--type', 'kind'],
        env,
      );
      expect(await command.exited, command.output()).toBe(0);
      expect(
        await sql.unsafe(
          `SELECT type, properties->>'id' AS id FROM meridian_test.events WHERE properties->>'id' IN ('3', '4') ORDER BY 2`,
        ),
      ).toEqual([
        { type: 'refund-issued', id: '3' },
        { type: 'order', id: '4' },
      ]);
    } finally {
      await runtime.close();
    }
  }, 60_000);
});

describe('meridian import file --target profiles, --time-zone', () => {
  const context = scratch('meridian-import-profiles-');

  it('sets profiles from a file without an event type or source, which an import of events still needs, and reads times in a zone', async ({
    skip,
  }) => {
    const { database, sql, dir } = context;
    if (!database) return skip();
    const env = { DATABASE_URL: database.url };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    const path = join(dir, 'people.csv');
    writeFileSync(path, 'id,name,email\ncli-1,Ann,ann@example.com\ncli-2,Bob,bob@example.com\n');
    const flags = ['--target', 'profiles', '--profile', 'id', '--trait', 'name=name', '--pii', 'email=email'];
    const imported = runMeridian(['import', 'file', path, ...flags], env);
    expect(await imported.exited, imported.output()).toBe(0);
    const profiles = async () =>
      sql.unsafe(`SELECT id, traits, pii FROM meridian_test.profiles WHERE id LIKE 'cli-%' ORDER BY id`);
    expect(await profiles()).toEqual([
      { id: 'cli-1', traits: { name: 'Ann' }, pii: { email: 'ann@example.com' } },
      { id: 'cli-2', traits: { name: 'Bob' }, pii: { email: 'bob@example.com' } },
    ]);
    // A run of it left paused is gone on with by the same command: its settings, no event type or source included, unchanged.
    const [paused] = await sql.unsafe(
      `UPDATE meridian_test.import_runs SET state = 'paused' WHERE state = 'done' RETURNING id, config->'event_type' AS type`,
    );
    expect(paused!['type']).toBeNull();
    const again = runMeridian(['import', 'file', path, ...flags], env);
    expect(await again.exited, again.output()).toBe(0);
    expect(again.output()).toContain(`going on with the paused run ${paused!['id']}`);

    for (const [missing, given] of [
      ['--event-type', ['--source', 'history']],
      ['--source', ['--event-type', 'order']],
    ] as const) {
      const refused = runMeridian(['import', 'file', path, ...given], env);
      expect(await refused.exited).not.toBe(0);
      expect(refused.output()).toContain(missing);
      expect(refused.output()).toContain('required for an import of events');
    }
    const malformed = runMeridian(['import', 'file', path, ...flags.slice(0, 4), '--trait', 'name'], env);
    expect(await malformed.exited).not.toBe(0);
    expect(malformed.output()).toContain('expected path=column');

    // --time-zone: the zone of times written without an offset.
    await sql.unsafe(`INSERT INTO meridian_test.event_sources (id, name) VALUES ('history', 'history')`);
    const visits = join(dir, 'visits.csv');
    writeFileSync(visits, 'who,at\nann,2024-07-15 12:00\n');
    const zoned = runMeridian(
      [
        'import',
        'file',
        visits,
        '--event-type',
        'visit',
        '--source',
        'history',
        '--time',
        'at',
        '--time-zone',
        'Europe/Warsaw',
      ],
      env,
    );
    expect(await zoned.exited, zoned.output()).toBe(0);
    const [visit] = await sql.unsafe(`SELECT occurred_at FROM meridian_test.events WHERE type = 'visit'`);
    expect((visit!['occurred_at'] as Date).toISOString()).toBe('2024-07-15T10:00:00.000Z');
  }, 60_000);
});
