/** Formats the benchmark's figures and writes them into BENCHMARKS.md between markers. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { failures, type LoadResult } from './load.js';

export const START_MARKER = '<!-- bench:track:start -->';
export const END_MARKER = '<!-- bench:track:end -->';

/** CPU milliseconds per completed request; absent where not measured. */
export interface CpuPerRequest {
  /** The API process, or all of them (a cluster primary and its workers). */
  api?: number;
  /** The bench database's PostgreSQL backends. */
  postgres?: number;
  loadGenerator?: number;
}

export interface CaseRow {
  name: string;
  /** Absent when the case was skipped or crashed; `note` says why. */
  result?: LoadResult;
  /** Requested rate for a fixed-rate run. */
  rate?: number;
  connections: number;
  /** Says the load where it is not HTTP connections (the bridge case). */
  setup?: string;
  /** A case measured otherwise than by HTTP requests: its figure, in place of `result`. */
  figure?: string;
  note?: string;
  cpu?: CpuPerRequest;
}

export interface Target {
  description: string;
  met: boolean | undefined;
  detail: string;
}

export interface ConditionFigures {
  evalsPerSecond: number;
  baselineOpsPerSecond: number;
}

export interface Report {
  date: Date;
  /** Which process generated the load, in one sentence's words. */
  loadGenerator: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadStart: string; loadEnd: string };
  durationS: number;
  rows: CaseRow[];
  baselineReqPerSec: number | undefined;
  targets: Target[];
  condition: { figures?: ConditionFigures; note?: string };
  notes: string[];
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const ms = (value: number) => `${fmt(value, value < 10 ? 2 : 1)} ms`;

function cells(row: CaseRow, baseline: number | undefined): string[] {
  const load = row.result;
  const setup =
    row.setup ?? (row.rate ? `${row.connections} conn, ${fmt(row.rate)} req/s fixed` : `${row.connections} conn, max`);
  if (!load) return [row.name, setup, '—', '—', '—', '—', '—', '—', '—', row.figure ?? row.note ?? 'skipped'];
  const ratio = baseline ? `${fmt((load.reqPerSec / baseline) * 100, 1)} %` : '—';
  const bad = failures(load);
  const codes = Object.entries(load.statusCodes)
    .map(([code, count]) => `${code}×${count}`)
    .join(' ');
  const status =
    bad > 0
      ? `FAILED: ${bad} failed requests (${load.non2xx} non-2xx, ${load.errors} errors of which ${load.timeouts} timeouts)`
      : 'ok';
  return [
    row.name,
    setup,
    fmt(load.reqPerSec),
    ms(load.latencyMs.p50),
    ms(load.latencyMs.p99),
    fmt(load.non2xx),
    fmt(load.errors),
    ratio,
    cpuCell(row.cpu),
    [status, row.note, codes ? `codes: ${codes}` : ''].filter(Boolean).join('; '),
  ];
}

const cpuCell = (cpu: CpuPerRequest | undefined) =>
  cpu
    ? [cpu.api, cpu.postgres, cpu.loadGenerator]
        .map((value) => (value === undefined ? '—' : fmt(value, value < 0.1 ? 3 : 2)))
        .join(' + ')
    : '—';

const HEADER = [
  'case',
  'load',
  'req/s',
  'p50',
  'p99',
  'non-2xx',
  'errors',
  'vs bare Fastify',
  'CPU ms/req: API + PG + load',
  'status',
];

/** A plain-text table for the terminal. */
export function textTable(report: Report): string {
  const rows = [HEADER, ...report.rows.map((row) => cells(row, report.baselineReqPerSec))];
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function markdownTable(report: Report): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const rows = report.rows.map((row) => cells(row, report.baselineReqPerSec));
  return [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i >= 2 && i <= 8 ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

export function targetsText(report: Report): string {
  return report.targets
    .map(
      (target) =>
        `${target.met === undefined ? 'n/a ' : target.met ? 'MET ' : 'MISS'}  ${target.description}: ${target.detail}`,
    )
    .join('\n');
}

export function conditionText(report: Report): string {
  const { figures, note } = report.condition;
  if (!figures) return `condition benchmark: ${note ?? 'skipped'}`;
  return `condition benchmark: ${fmt(figures.evalsPerSecond)} evals/s (baseline ${fmt(figures.baselineOpsPerSecond)} ops/s, ratio ${fmt(
    (figures.evalsPerSecond / figures.baselineOpsPerSecond) * 100,
    1,
  )} %)`;
}

/** The BENCHMARKS.md section, markers included. */
export function markdownSection(report: Report): string {
  const { machine } = report;
  const targets = report.targets.map(
    (target) =>
      `- ${target.met === undefined ? '⚪ not measured' : target.met ? '✅ met' : '❌ missed'}: ${target.description} — ${target.detail}`,
  );
  // One line: the hand-written Conditions section says what it measures.
  const condition = report.condition.figures
    ? `Condition evaluation: ${fmt(report.condition.figures.evalsPerSecond)} evaluations/s against a baseline of ` +
      `${fmt(report.condition.figures.baselineOpsPerSecond)} ops/s (${fmt(
        (report.condition.figures.evalsPerSecond / report.condition.figures.baselineOpsPerSecond) * 100,
        1,
      )} %).`
    : `Condition evaluation skipped: ${report.condition.note ?? 'not run'}.`;
  return [
    START_MARKER,
    '## /track throughput and latency',
    '',
    `Measured ${report.date.toISOString()} with \`npm run bench\` on ${machine.cpus} × ${machine.cpuModel} (nproc ${machine.cpus}), ` +
      `Node ${machine.node}, ${machine.platform}. Load: ${report.loadGenerator}; each server in a child process, ` +
      `${report.durationS} s per case; PostgreSQL on the same machine. The machine is shared (1-minute load average ${machine.loadStart} at start, ` +
      `${machine.loadEnd} at end), so figures are noisy: compare ratios, not absolutes.`,
    '',
    markdownTable(report),
    '',
    'Targets:',
    '',
    ...targets,
    '',
    condition,
    ...(report.notes.length ? ['', 'Notes:', '', ...report.notes.map((note) => `- ${note}`)] : []),
    '',
    END_MARKER,
  ].join('\n');
}

/** Replaces the marked section of the file (or appends it), keeping everything else. */
export function writeSection(path: string, section: string): void {
  const title =
    '# Benchmarks\n\nRun `npm run bench` to measure again; the section between the markers is rewritten by it.\n';
  const current = existsSync(path) ? readFileSync(path, 'utf8') : title;
  const start = current.indexOf(START_MARKER);
  const end = current.indexOf(END_MARKER);
  const next =
    start >= 0 && end > start
      ? current.slice(0, start) + section + current.slice(end + END_MARKER.length)
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
}
