import { describe, expect, it } from 'vitest';
import type { JobRun } from '../shared/job-runs.js';
import type { ImportRun } from './ports.js';
import {
  importFigures,
  importProgressLine,
  jobRunFigures,
  jobRunProgressLine,
  progressOf,
  terminalLine,
  waitsForWorker,
} from './progress.js';

const run = (figures: Partial<ImportRun>): ImportRun => ({
  id: 'r',
  importId: 'i',
  state: 'running',
  rowsRead: 0,
  rowsStored: 0,
  rowsRejected: 0,
  total: null,
  position: 0,
  activeMs: 0,
  leased: true,
  lastError: null,
  createdAt: '',
  startedAt: null,
  updatedAt: '',
  finishedAt: null,
  ...figures,
});

const importProgress = (figures: Partial<ImportRun>) => progressOf(importFigures(run(figures)));

const jobRun = (figures: Partial<JobRun>): JobRun => ({
  id: 'data-migration-identity-keys',
  kind: 'data-migration',
  subject: 'identity-keys',
  state: 'running',
  total: 0,
  done: 0,
  errors: 0,
  batches: 0,
  batchesDone: 0,
  activeMs: 0,
  leased: true,
  lastError: null,
  createdAt: '',
  updatedAt: '',
  finishedAt: null,
  ...figures,
});

const jobRunProgress = (figures: Partial<JobRun>) => progressOf(jobRunFigures(jobRun(figures)));

describe('progressOf an import run', () => {
  it('gives rows per running second, the share read and the time left at that pace', () => {
    expect(importProgress({ rowsRead: 500, activeMs: 2000, total: 1000, position: 250 })).toEqual({
      rowsPerSecond: 250,
      percent: 25,
      etaSeconds: 6,
    });
  });

  it('says nothing it cannot know: no size, no share nor ETA; nothing read, no rate', () => {
    expect(importProgress({ rowsRead: 10, activeMs: 1000 })).toEqual({
      rowsPerSecond: 10,
      percent: null,
      etaSeconds: null,
    });
    expect(importProgress({ total: 100 })).toEqual({ rowsPerSecond: null, percent: 0, etaSeconds: null });
  });

  it('a paused run keeps its share read but foretells no end', () => {
    expect(importProgress({ state: 'paused', rowsRead: 500, activeMs: 2000, total: 1000, position: 250 })).toEqual({
      rowsPerSecond: 250,
      percent: 25,
      etaSeconds: null,
    });
  });

  it('a running run whose worker was killed (its lease ran out) foretells no end: it waits for a worker', () => {
    const stalled = run({ leased: false, rowsRead: 500, activeMs: 2000, total: 1000, position: 250 });
    expect(progressOf(importFigures(stalled))).toEqual({ rowsPerSecond: 250, percent: 25, etaSeconds: null });
    expect(waitsForWorker(stalled)).toBe(true);
    expect(importProgressLine(stalled, false)).toContain('running, waiting for a worker');
    expect(waitsForWorker(run({ leased: true }))).toBe(false);
    expect(waitsForWorker(run({ state: 'paused', leased: false }))).toBe(false);
  });

  it('a finished run is at 100 % with no time left', () => {
    expect(importProgress({ state: 'done', rowsRead: 3, activeMs: 10, total: 90, position: 90 })).toMatchObject({
      percent: 100,
      etaSeconds: null,
    });
  });
});

describe('progressOf a data migration', () => {
  it('gives rows done per running second, the share done and the time left at that pace', () => {
    expect(jobRunProgress({ done: 3000, total: 12_000, activeMs: 1500 })).toEqual({
      rowsPerSecond: 2000,
      percent: 25,
      etaSeconds: 5,
    });
  });

  it('foretells no end while no process works through it (stopped, or its runner killed)', () => {
    expect(jobRunProgress({ done: 3000, total: 12_000, activeMs: 1500, leased: false })).toEqual({
      rowsPerSecond: 2000,
      percent: 25,
      etaSeconds: null,
    });
  });

  it('planned but not started: no rate, no end', () => {
    expect(jobRunProgress({ state: 'queued', total: 12_000 })).toEqual({
      rowsPerSecond: null,
      percent: 0,
      etaSeconds: null,
    });
  });

  it('rows stored since the plan, taken by its last batch, leave it at 100 % with nothing left', () => {
    expect(jobRunProgress({ done: 12_500, total: 12_500, activeMs: 5000 })).toEqual({
      rowsPerSecond: 2500,
      percent: 100,
      etaSeconds: 0,
    });
  });

  it('done is 100 %, whatever the plan counted', () => {
    expect(jobRunProgress({ state: 'done', done: 11_640, total: 12_000, activeMs: 5820, leased: false })).toEqual({
      rowsPerSecond: 2000,
      percent: 100,
      etaSeconds: null,
    });
  });
});

describe('progress lines', () => {
  it("an import run's: a bar for a terminal, none for a log", () => {
    const line = run({
      rowsRead: 12_345,
      rowsStored: 12_300,
      rowsRejected: 45,
      activeMs: 5000,
      total: 1000,
      position: 500,
    });
    expect(importProgressLine(line, true)).toBe(
      '[############............]  50.0%  12,345 read  12,300 stored  45 rejected  2,469 rows/s  ETA 5s  running',
    );
    expect(importProgressLine({ ...line, total: null }, false)).toBe(
      '12,345 read  12,300 stored  45 rejected  2,469 rows/s  running',
    );
  });

  it("a data migration's: rows done of the total, errors, rate and time left", () => {
    const migrating = jobRun({ done: 30_000, total: 40_000, activeMs: 15_000 });
    expect(jobRunProgressLine(migrating, true)).toBe(
      '[##################......]  75.0%  30,000 of 40,000 rows  0 errors  2,000 rows/s  ETA 5s  running',
    );
    expect(
      jobRunProgressLine({ ...migrating, state: 'done', done: 39_000, total: 39_000, activeMs: 19_500 }, false),
    ).toBe('100.0%  39,000 of 39,000 rows  0 errors  2,000 rows/s  done');
  });

  it('fits a terminal, so that redrawing it never wraps: the bar goes first, then the end is cut', () => {
    const line = (bar: boolean) =>
      importProgressLine(run({ rowsRead: 12_345, activeMs: 5000, total: 1000, position: 500 }), bar);
    expect(terminalLine(line, 200)).toBe(line(true));
    expect(terminalLine(line, undefined)).toBe(line(true));
    expect(line(true).length).toBe(99);
    expect(terminalLine(line, 100)).toBe(line(true));
    expect(terminalLine(line, 99)).toBe(line(false));
    const narrow = terminalLine(line, 60);
    expect(narrow).toBe(line(false).slice(0, 59));
    expect(narrow.length).toBeLessThan(60);
  });
});
