/**
 * A CSV of BENCH_IMPORT_ROWS rows (200,000; the figure is 1,000,000) imported on PostgreSQL, as events and as profiles, each against
 * the baseline measured just before it and just after it (their mean, as the machine's speed drifts): `COPY` of the same rows
 * into an empty copy of the events table (indexes included), what storing them costs with nothing checked, mapped or counted.
 * Targets: events ≥ 25 % of the baseline's rows/s, profiles ≥ 50 %. The profiles import is also reported, as information, against
 * `COPY` of its rows into an empty copy of the profiles table, a stricter yardstick the issue does not set.
 * The database is dropped afterwards. Standalone: `node dist/bench/import.js`; `import` in `npm run bench`.
 * Environment: BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/postgres), BENCH_IMPORT_ROWS,
 * BENCH_IMPORT_TARGETS (`events,profiles`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { pino } from 'pino';
import { Composition } from '../src/cli/composition.js';
import { loadConfig } from '../src/config/config.js';
import type { ImportDraft } from '../src/importing/model.js';
import { createImportRun, runImport } from '../src/importing/runner.js';
import { cpuBetween, cpuSnapshot } from './metrics.js';
import type { Target } from './report.js';

const ADMIN_URL = process.env['BENCH_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const IMPORT_ROWS = Number(process.env['BENCH_IMPORT_ROWS'] ?? 200_000);
const ROWS = IMPORT_ROWS;
const PEOPLE = Math.max(1, Math.floor(ROWS / 10));
const TARGETS = (process.env['BENCH_IMPORT_TARGETS'] ?? 'events,profiles').split(',') as ('events' | 'profiles')[];

export interface ImportFigure {
  target: 'events' | 'profiles';
  rowsPerSecond: number;
  /** CPU µs a row: this process (reading, mapping, collect) and the bench database's backends. */
  nodeMicros: number;
  postgresMicros: number;
  /** `COPY` of the same rows into an empty events table, rows/s (before and after, their mean). */
  baselineRowsPerSecond: number;
  ratio: number;
  goal: number;
  /** Profiles: `COPY` of the rows into an empty profiles table, rows/s (before and after, their mean). */
  profilesTableRowsPerSecond?: number;
}

async function writeCsv(path: string): Promise<void> {
  async function* lines() {
    yield 'email,amount,at\n';
    for (let i = 0; i < ROWS; i += 1000) {
      let chunk = '';
      for (let j = i; j < Math.min(ROWS, i + 1000); j++)
        chunk += `u${j % PEOPLE}@example.com,${(j % 997) / 10},2024-01-01T00:00:${String(j % 60).padStart(2, '0')}Z\n`;
      yield chunk;
    }
  }
  await pipeline(lines(), createWriteStream(path));
}

/** COPY of as many rows into an empty copy of `table`; rows/s. */
async function copyBaseline(sql: postgres.Sql, schema: string, table: 'events' | 'profiles'): Promise<number> {
  const copy = `${schema}.bench_copy_${table}`;
  await sql.unsafe(`CREATE TABLE ${copy} (LIKE ${schema}.${table} INCLUDING ALL)`);
  try {
    const columns =
      table === 'events' ? '(id, type, profile_id, session_id, source_id, properties, occurred_at)' : '(id, traits)';
    const started = performance.now();
    const writable = await sql.unsafe(`COPY ${copy} ${columns} FROM STDIN`).writable();
    async function* rows() {
      for (let i = 0; i < ROWS; i += 1000) {
        let chunk = '';
        for (let j = i; j < Math.min(ROWS, i + 1000); j++)
          chunk +=
            table === 'events'
              ? `${randomUUID()}\tpurchase\tp${j % PEOPLE}\ts${j % PEOPLE}\tbench\t{"amount": ${(j % 997) / 10}}\t2024-01-01T00:00:00Z\n`
              : `p${j}\t{"amount": ${(j % 997) / 10}}\n`;
        yield chunk;
      }
    }
    await pipeline(rows(), writable);
    return ROWS / ((performance.now() - started) / 1000);
  } finally {
    await sql.unsafe(`DROP TABLE ${copy}`);
  }
}

export async function benchImport(): Promise<ImportFigure[]> {
  const name = `meridian_bench_import_${randomBytes(4).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-import-'));
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const root = await Composition.open(
    loadConfig({ DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' }),
    pino({ level: 'warn' }),
  );
  try {
    const schema = root.db.schema;
    const path = join(dir, 'rows.csv');
    await writeCsv(path);
    await root.repositories.sources.create({
      id: 'bench',
      name: 'bench',
      description: '',
      enabled: true,
      type: 'rest',
      config: {},
    });
    const figures: ImportFigure[] = [];
    for (const target of TARGETS) {
      const baselineBefore = await copyBaseline(sql, schema, 'events');
      const tableBaselineBefore = target === 'profiles' ? await copyBaseline(sql, schema, 'profiles') : undefined;
      const draft: ImportDraft = {
        name: `bench ${target}`,
        source: { kind: 'csv', path },
        eventSourceId: 'bench',
        eventType: 'purchase',
        target,
        mapping:
          target === 'events'
            ? { profileId: 'email', time: 'at', properties: { amount: { from: 'amount', type: 'number' } } }
            : { profileId: 'email', traits: { amount: { from: 'amount', type: 'number' } } },
        options: { batchSize: 5000 },
      };
      const saved = await root.repositories.imports.create(randomUUID(), draft, undefined);
      const run = await createImportRun(root.repositories.imports, saved.id);
      const backends = async () =>
        cpuSnapshot(
          (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${name}`).map(
            (row) => row.pid,
          ),
        );
      const backendsBefore = await backends();
      const nodeBefore = process.cpuUsage();
      const started = performance.now();
      await runImport(
        {
          imports: root.repositories.imports,
          importing: root.importServices(),
          queue: root.queue,
          logger: root.logger,
        },
        run.id,
      );
      const seconds = (performance.now() - started) / 1000;
      const node = process.cpuUsage(nodeBefore);
      const postgresMicros = (cpuBetween(backendsBefore, await backends()) * 1e6) / ROWS;
      const nodeMicros = (node.user + node.system) / ROWS;
      const baseline = (baselineBefore + (await copyBaseline(sql, schema, 'events'))) / 2;
      const tableBaseline =
        tableBaselineBefore === undefined
          ? undefined
          : (tableBaselineBefore + (await copyBaseline(sql, schema, 'profiles'))) / 2;
      const done = await root.repositories.imports.getRun(run.id);
      if (done?.state !== 'done' || done.rowsStored !== ROWS)
        throw new Error(`import ${target}: ${JSON.stringify(done)}`);
      const rowsPerSecond = ROWS / seconds;
      const goal = target === 'events' ? 0.25 : 0.5;
      figures.push({
        target,
        rowsPerSecond,
        nodeMicros,
        postgresMicros,
        baselineRowsPerSecond: baseline,
        ratio: rowsPerSecond / baseline,
        goal,
        ...(tableBaseline === undefined ? {} : { profilesTableRowsPerSecond: tableBaseline }),
      });
    }
    return figures;
  } finally {
    await root.close();
    await sql.end({ timeout: 1 });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 1 });
    rmSync(dir, { recursive: true, force: true });
  }
}

const rate = (rowsPerSecond: number) => Math.round(rowsPerSecond).toLocaleString('en');
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

/** One line per target, as the bench's notes and the standalone run print them. */
export function describeImport(figures: readonly ImportFigure[]): string {
  return (
    `CSV import of ${ROWS.toLocaleString('en')} rows (${PEOPLE.toLocaleString('en')} people): ` +
    figures
      .map(
        (figure) =>
          `as ${figure.target} ${rate(figure.rowsPerSecond)} rows/s, ${(100 * figure.ratio).toFixed(1)} % of COPY's ${rate(figure.baselineRowsPerSecond)} rows/s into events ` +
          (figure.profilesTableRowsPerSecond === undefined
            ? ''
            : `and ${percent(figure.rowsPerSecond, figure.profilesTableRowsPerSecond)} of COPY's ${rate(figure.profilesTableRowsPerSecond)} rows/s into profiles `) +
          `(CPU a row: Node ${Math.round(figure.nodeMicros)} µs, PostgreSQL ${Math.round(figure.postgresMicros)} µs)`,
      )
      .join('; ') +
    '.'
  );
}

export function importTargets(figures: readonly ImportFigure[]): Target[] {
  return figures.map((figure) => ({
    description: `CSV import as ${figure.target} ≥ ${100 * figure.goal} % of COPY rows/s into an empty events table`,
    met: figure.ratio >= figure.goal,
    detail:
      `${(100 * figure.ratio).toFixed(1)} % (${rate(figure.rowsPerSecond)} vs ${rate(figure.baselineRowsPerSecond)} rows/s, ${ROWS.toLocaleString('en')} rows)` +
      (figure.profilesTableRowsPerSecond === undefined
        ? ''
        : `; against COPY into an empty profiles table, ${percent(figure.rowsPerSecond, figure.profilesTableRowsPerSecond)}`),
  }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchImport();
  process.stdout.write(`${describeImport(figures)}\n`);
  process.exitCode = figures.every((figure) => figure.ratio >= figure.goal) ? 0 : 1;
}
