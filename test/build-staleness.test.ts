import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STAMP, staleReason } from '../scripts/build.js';

/** `npm start`, `npm test` and `npm run bench` rebuild only when what the build reads changed. */
describe('build staleness', () => {
  let root: string;
  const built = new Date('2026-01-01T12:00:00Z');
  const before = new Date('2026-01-01T11:00:00Z');
  const after = new Date('2026-01-01T13:00:00Z');

  function file(path: string, time: Date) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, '');
    utimesSync(full, time, time);
  }

  /** A checkout built at `built` from sources all older than that. */
  function builtCheckout() {
    root = mkdtempSync(join(tmpdir(), 'meridian-build-'));
    for (const path of [
      'src/cli/main.ts',
      'src/storage/migrations/0001_init.sql',
      'bench/run.ts',
      'tsconfig.json',
      'tsconfig.build.json',
      'package.json',
    ]) {
      file(path, before);
    }
    file('dist/src/cli/main.js', built);
    file(STAMP, built);
  }

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is up to date when every source is older than the build', () => {
    builtCheckout();
    expect(staleReason(root)).toBeUndefined();
  });

  it('builds when dist/ has no stamp or no compiled CLI', () => {
    builtCheckout();
    rmSync(join(root, STAMP));
    expect(staleReason(root)).toBe('dist/ has no complete build');
    builtCheckout();
    rmSync(join(root, 'dist/src/cli/main.js'));
    expect(staleReason(root)).toBe('dist/ has no complete build');
  });

  it('builds when a source deep in src/ or bench/, a migration or a build setting changed', () => {
    for (const [path, reason] of [
      ['src/storage/sql-read-model.ts', 'src/ changed since the last build'],
      ['src/storage/migrations/0001_init.sql', 'src/ changed since the last build'],
      ['bench/run.ts', 'bench/ changed since the last build'],
      ['tsconfig.build.json', 'tsconfig.build.json changed since the last build'],
      ['package.json', 'package.json changed since the last build'],
    ]) {
      builtCheckout();
      file(path!, after);
      expect(staleReason(root)).toBe(reason);
      rmSync(root, { recursive: true, force: true });
    }
    builtCheckout();
  });

  it('does not build for a changed test file: tests are not compiled', () => {
    builtCheckout();
    file('src/cli/main.test.ts', after);
    expect(staleReason(root)).toBeUndefined();
  });
});
