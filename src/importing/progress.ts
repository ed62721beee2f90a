import type { JobRun } from '../shared/job-runs.js';
import type { ImportRun } from './ports.js';

/** What a run's pace is told from: an import run's figures, or a data migration's. */
export interface RunFigures {
  /** Rows gone through: an import's rows read, a data migration's rows done. */
  rows: number;
  /** How far into `total` the run is; `total` (null: unknown) in the same unit. */
  position: number;
  total: number | null;
  /** Milliseconds spent running, pauses left out. */
  activeMs: number;
  finished: boolean;
  /** Whether it is being worked through now: only then is an end foretold. */
  going: boolean;
}

export interface RunProgress {
  /** Rows per second of running time (pauses left out); null before the first batch. */
  rowsPerSecond: number | null;
  /** Share of `total` gone through, 0–100, when it is known. */
  percent: number | null;
  /** Seconds left at the rate so far, when `total` is known and the run is going (not while it is paused). */
  etaSeconds: number | null;
}

/** What `GET /jobs/{id}` says of a run's pace, from its figures alone. */
export function progressOf(run: RunFigures): RunProgress {
  const seconds = run.activeMs / 1000;
  const rowsPerSecond = seconds > 0 && run.rows > 0 ? run.rows / seconds : null;
  const percent = run.finished
    ? 100
    : run.total && run.total > 0
      ? Math.min(100, (100 * run.position) / run.total)
      : null;
  const etaSeconds =
    run.going && run.total !== null && run.position > 0 && seconds > 0
      ? Math.max(0, ((run.total - run.position) * seconds) / run.position)
      : null;
  return {
    rowsPerSecond: rowsPerSecond === null ? null : Math.round(rowsPerSecond * 10) / 10,
    percent: percent === null ? null : Math.round(percent * 10) / 10,
    etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds),
  };
}

export const importFigures = (run: ImportRun): RunFigures => ({
  rows: run.rowsRead,
  position: run.position,
  total: run.total,
  activeMs: run.activeMs,
  finished: run.state === 'done',
  // A running run whose lease ran out has no worker: it waits for one to take it over.
  going: (run.state === 'running' && run.leased) || run.state === 'queued',
});

/** A running run whose worker stopped renewing its lease (killed): it waits for another to take it over. */
export const waitsForWorker = (run: ImportRun): boolean => run.state === 'running' && !run.leased;

/** A job run's figures: its items are rows; it is going while a runner holds its lease. */
export const jobRunFigures = (run: JobRun): RunFigures => ({
  rows: run.done,
  position: run.done,
  total: run.total,
  activeMs: run.activeMs,
  finished: run.state === 'done',
  going: run.leased && (run.state === 'running' || run.state === 'queued'),
});

const count = (n: number) => n.toLocaleString('en-US');

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line of a run's progress, its counts told in `counts`: with a bar for a terminal, plain for a log. */
function progressLine(figures: RunFigures, counts: readonly string[], state: string, bar: boolean): string {
  const { rowsPerSecond, percent, etaSeconds } = progressOf(figures);
  const width = 24;
  const filled = percent === null ? 0 : Math.round((percent / 100) * width);
  const parts = [
    ...(bar ? [`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`] : []),
    ...(percent === null ? [] : [`${percent.toFixed(1)}%`]),
    ...counts,
    ...(rowsPerSecond === null ? [] : [`${count(Math.round(rowsPerSecond))} rows/s`]),
    ...(etaSeconds === null ? [] : [`ETA ${duration(etaSeconds)}`]),
    state,
  ];
  return parts.join('  ');
}

/**
 * A progress line as a terminal `columns` wide (undefined: unknown) can redraw in place: a line that
 * wraps leaves its first rows behind at every redraw, `\r` going back to the start of its last row only.
 * Where the line with its bar does not fit, it goes without the bar, cut to fit; the last column is left
 * free, past which some terminals wrap.
 */
export function terminalLine(line: (bar: boolean) => string, columns: number | undefined): string {
  const room = columns === undefined || columns < 2 ? Number.POSITIVE_INFINITY : columns - 1;
  const withBar = line(true);
  return withBar.length <= room ? withBar : line(false).slice(0, room);
}

export const importProgressLine = (run: ImportRun, bar: boolean): string =>
  progressLine(
    importFigures(run),
    [`${count(run.rowsRead)} read`, `${count(run.rowsStored)} stored`, `${count(run.rowsRejected)} rejected`],
    waitsForWorker(run) ? 'running, waiting for a worker' : run.state,
    bar,
  );

export const jobRunProgressLine = (run: JobRun, bar: boolean): string =>
  progressLine(
    jobRunFigures(run),
    [`${count(run.done)} of ${count(run.total)} rows`, `${count(run.errors)} errors`],
    run.state,
    bar,
  );
