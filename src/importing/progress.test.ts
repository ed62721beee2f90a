import { describe, expect, it } from 'vitest';
import type { ImportRun } from './ports.js';
import { progressLine, progressOf } from './progress.js';

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
  lastError: null,
  createdAt: '',
  startedAt: null,
  updatedAt: '',
  finishedAt: null,
  ...figures,
});

describe('progressOf', () => {
  it('gives rows per running second, the share read and the time left at that pace', () => {
    expect(progressOf(run({ rowsRead: 500, activeMs: 2000, total: 1000, position: 250 }))).toEqual({
      rowsPerSecond: 250,
      percent: 25,
      etaSeconds: 6,
    });
  });

  it('says nothing it cannot know: no size, no share nor ETA; nothing read, no rate', () => {
    expect(progressOf(run({ rowsRead: 10, activeMs: 1000 }))).toEqual({
      rowsPerSecond: 10,
      percent: null,
      etaSeconds: null,
    });
    expect(progressOf(run({ total: 100 }))).toEqual({ rowsPerSecond: null, percent: 0, etaSeconds: null });
  });

  it('a paused run keeps its share read but foretells no end', () => {
    expect(progressOf(run({ state: 'paused', rowsRead: 500, activeMs: 2000, total: 1000, position: 250 }))).toEqual({
      rowsPerSecond: 250,
      percent: 25,
      etaSeconds: null,
    });
  });

  it('a finished run is at 100 % with no time left', () => {
    expect(progressOf(run({ state: 'done', rowsRead: 3, activeMs: 10, total: 90, position: 90 }))).toMatchObject({
      percent: 100,
      etaSeconds: null,
    });
  });
});

describe('progressLine', () => {
  it('draws a bar for a terminal and leaves it out for a log', () => {
    const line = run({
      rowsRead: 12_345,
      rowsStored: 12_300,
      rowsRejected: 45,
      activeMs: 5000,
      total: 1000,
      position: 500,
    });
    expect(progressLine(line, true)).toBe(
      '[############............]  50.0%  12,345 read  12,300 stored  45 rejected  2,469 rows/s  ETA 5s  running',
    );
    expect(progressLine({ ...line, total: null }, false)).toBe(
      '12,345 read  12,300 stored  45 rejected  2,469 rows/s  running',
    );
  });
});
