import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const MERIDIAN_BIN = fileURLToPath(new URL('../../bin/meridian', import.meta.url));

export interface MeridianProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `bin/meridian <args>` (the compiled CLI, as users run it) with the given environment;
 * `wrapper` is a command that runs it (`strace …`), whose child Meridian then is.
 */
export function runMeridian(args: string[], env: Record<string, string>, wrapper: string[] = []): MeridianProcess {
  const command = [...wrapper, process.execPath, MERIDIAN_BIN, ...args];
  return watch(spawn(command[0]!, command.slice(1), { env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Runs `npm start` in the repository, as a newcomer (or a process manager) does. */
export function runNpmStart(env: Record<string, string>): MeridianProcess {
  return watch(spawn('npm', ['start'], { cwd: REPO_ROOT, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] }));
}

function environment(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'warn', ...env };
}

function watch(child: ChildProcess): MeridianProcess {
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Polls the health check until the API answers, or fails with the process's output. */
export async function waitForHealthy(url: string, process: MeridianProcess, timeoutMs = 100_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.child.exitCode !== null) throw new Error(`meridian exited early:\n${process.output()}`);
    try {
      const response = await fetch(`${url}/healthcheck`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`meridian did not become healthy at ${url}:\n${process.output()}`);
}
