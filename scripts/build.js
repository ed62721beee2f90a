// Builds dist/ from src/ and bench/ (`npm run build`); with --if-stale, only when a source is newer than
// the last build, so `npm start`, `npm test` and `npm run bench` build once and then start at once.
// Plain JavaScript: it runs before there is any compiled code.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Written after a successful build; its mtime is the time the build started. */
export const STAMP = 'dist/.build-stamp';
/** What the build reads: the compiled folders (tests aside: they are not built) and the build's settings. */
const SOURCE_FOLDERS = ['src', 'bench'];
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
const ENTRY = 'dist/src/cli/main.js';

/**
 * The newest mtime (ms) among the files under `folder` that the build compiles or copies.
 * @param {string} folder
 * @returns {number}
 */
function newestUnder(folder) {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestUnder(path));
    else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Why `root`'s dist/ must be rebuilt, or undefined when it is up to date. */
export function staleReason(root = ROOT) {
  const stamp = join(root, STAMP);
  if (!existsSync(stamp) || !existsSync(join(root, ENTRY))) return 'dist/ has no complete build';
  const built = statSync(stamp).mtimeMs;
  for (const folder of SOURCE_FOLDERS) {
    const path = join(root, folder);
    if (existsSync(path) && newestUnder(path) > built) return `${folder}/ changed since the last build`;
  }
  for (const file of SETTINGS) {
    const path = join(root, file);
    if (existsSync(path) && statSync(path).mtimeMs > built) return `${file} changed since the last build`;
  }
  return undefined;
}

/** Compiles with tsc and copies the migrations; exits the process with tsc's status on failure. */
export function build(root = ROOT) {
  const startedAt = new Date();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (compiled.status !== 0) process.exit(compiled.status ?? 1);
  cpSync(join(root, 'src/storage/migrations'), join(root, 'dist/src/storage/migrations'), { recursive: true });
  const stamp = join(root, STAMP);
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(stamp, `${startedAt.toISOString()}\n`);
  // A source saved while tsc ran is newer than this, so the next check builds again.
  utimesSync(stamp, startedAt, startedAt);
}

export function buildIfStale(root = ROOT) {
  const reason = staleReason(root);
  if (reason === undefined) return;
  process.stderr.write(`meridian: building (${reason})\n`);
  build(root);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) buildIfStale();
  else build();
}
