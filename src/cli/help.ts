import { readFileSync } from 'node:fs';
import { variablesOf, type VariableSpec } from '../config/config.js';

/** `--help`'s list of the environment variables a command reads, from config's own definitions. */
export function environmentHelp(...groups: VariableSpec['group'][]): string {
  const variables = variablesOf(...groups);
  const width = Math.max(...variables.map(([name]) => name.length)) + 2;
  const lines = variables.map(([name, spec]) => {
    const fallback = spec.default === undefined ? '' : ` (default: ${spec.default})`;
    return `  ${name.padEnd(width)}${spec.meaning}${fallback}`;
  });
  return ['', 'Environment variables:', ...lines].join('\n');
}

/** The version in the nearest package.json above this module (src/cli or dist/src/cli). */
export function packageVersion(): string {
  for (let folder = new URL('./', import.meta.url); ; folder = new URL('../', folder)) {
    try {
      return (JSON.parse(readFileSync(new URL('package.json', folder), 'utf8')) as { version: string }).version;
    } catch (error) {
      if (folder.pathname === '/') throw error;
    }
  }
}
