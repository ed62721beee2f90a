import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's copy of the compatibility data (test/compat/README.md says where it came from). */
const COMPAT_DIRECTORY = new URL('../compat/', import.meta.url);

export function readCompat<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(name, COMPAT_DIRECTORY)), 'utf8')) as T;
}
