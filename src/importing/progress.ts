import type { ImportRun } from './ports.js';

export interface ImportProgress {
  /** Rows read per second of running time (pauses left out); null before the first batch. */
  rowsPerSecond: number | null;
  /** Share of the source read, 0–100, when the source told its size. */
  percent: number | null;
  /** Seconds left at the rate so far, when the size is known and the run is going (not while it is paused). */
  etaSeconds: number | null;
}

/** What `GET /jobs/{id}` says of a run's pace, from its figures alone. */
export function progressOf(run: ImportRun): ImportProgress {
  const seconds = run.activeMs / 1000;
  const rowsPerSecond = seconds > 0 && run.rowsRead > 0 ? run.rowsRead / seconds : null;
  const finished = run.state === 'done';
  const percent = finished ? 100 : run.total && run.total > 0 ? Math.min(100, (100 * run.position) / run.total) : null;
  const going = run.state === 'running' || run.state === 'queued';
  const etaSeconds =
    going && run.total !== null && run.position > 0 && seconds > 0
      ? Math.max(0, ((run.total - run.position) * seconds) / run.position)
      : null;
  return {
    rowsPerSecond: rowsPerSecond === null ? null : Math.round(rowsPerSecond * 10) / 10,
    percent: percent === null ? null : Math.round(percent * 10) / 10,
    etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds),
  };
}

const count = (n: number) => n.toLocaleString('en-US');

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line of a run's progress: with a bar for a terminal, plain for a log. */
export function progressLine(run: ImportRun, bar: boolean): string {
  const { rowsPerSecond, percent, etaSeconds } = progressOf(run);
  const width = 24;
  const filled = percent === null ? 0 : Math.round((percent / 100) * width);
  const parts = [
    ...(bar ? [`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`] : []),
    ...(percent === null ? [] : [`${percent.toFixed(1)}%`]),
    `${count(run.rowsRead)} read`,
    `${count(run.rowsStored)} stored`,
    `${count(run.rowsRejected)} rejected`,
    ...(rowsPerSecond === null ? [] : [`${count(Math.round(rowsPerSecond))} rows/s`]),
    ...(etaSeconds === null ? [] : [`ETA ${duration(etaSeconds)}`]),
    run.state,
  ];
  return parts.join('  ');
}
