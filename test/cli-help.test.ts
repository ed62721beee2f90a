import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runMeridian } from './support/processes.js';

async function cli(...args: string[]) {
  const process = runMeridian(args, {});
  const code = await process.exited;
  return { code, output: process.output() };
}

/** What a newcomer types first: the compiled CLI's version and each command's help. */
describe('meridian --version and --help', () => {
  it('prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await cli('--version')).toEqual({ code: 0, output: `${version}\n` });
  });

  it.each([
    ['start', ['PORT', 'HOST', 'DATA_DIR', 'API_TOKEN', 'DATABASE_URL', 'REDIS_HOST', 'HEARTBEAT_INTERVAL_S']],
    ['api', ['PORT', 'HOST', 'DATA_DIR', 'API_TOKEN', 'DATABASE_URL', 'REDIS_HOST', 'CORS_ORIGINS']],
  ])('%s --help lists the environment variables it reads', async (command, variables) => {
    const { code, output } = await cli(command, '--help');
    expect(code).toBe(0);
    const listed = output.slice(output.indexOf('Environment variables:'));
    for (const variable of variables) expect(listed).toMatch(new RegExp(`^ {2}${variable} `, 'm'));
  });
});
