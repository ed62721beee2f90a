/**
 * Child processes for the benchmark: spawn, wait for the healthcheck, stop. Every child is kept in a
 * registry so the orchestrator can kill what is left on exit, error or signal; each child's stderr
 * (and stdout) is kept so a failure can show what the child said.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface ChildSpec {
  /** Name used in messages. */
  name: string;
  /** Arguments to `node` (node flags first, then the script and its arguments). */
  nodeArgs: string[];
  env: Record<string, string | undefined>;
  /** URL polled until it answers 200; absent (a process without HTTP): ready once spawned. */
  healthUrl?: string;
  startTimeoutMs?: number;
  cwd?: string;
}

export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  /** Last output of the child (stderr and stdout interleaved), for error reports. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal once it is gone. */
  stop(graceMs?: number): Promise<string>;
  /** Rejects if the child exits before stop() is called. */
  readonly exited: Promise<never>;
}

const MAX_OUTPUT = 16_000;
const live = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL): for process exit and fatal errors. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

export class ChildFailure extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n--- child output (last ${MAX_OUTPUT} chars) ---\n${output.trim() || '(none)'}\n---`);
    this.name = 'ChildFailure';
  }
}

/** A free TCP port on 127.0.0.1 (released before use, so a tiny race remains). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startChild(spec: ChildSpec): Promise<Child> {
  const timeoutMs = spec.startTimeoutMs ?? 60_000;
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > MAX_OUTPUT * 2) output = output.slice(-MAX_OUTPUT);
  };
  // An undefined value removes the variable, so the parent's environment cannot leak a backend in.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...spec.env })) if (value !== undefined) env[key] = value;
  for (const [key, value] of Object.entries(spec.env)) if (value === undefined) delete env[key];
  const proc = spawn(process.execPath, spec.nodeArgs, {
    cwd: spec.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const tail = () => output.slice(-MAX_OUTPUT);

  let stopping = false;
  const gone = new Promise<string>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve(signal ?? `exit code ${code}`);
    });
    proc.on('error', (error) => {
      live.delete(proc);
      append(Buffer.from(`spawn error: ${error.message}\n`));
      resolve(`spawn error`);
    });
  });
  // Settles only if the child dies without having been asked to stop.
  const exited = gone.then((how): Promise<never> =>
    stopping
      ? new Promise<never>(() => {})
      : Promise.reject(new ChildFailure(`${spec.name} exited unexpectedly (${how})`, tail())),
  );
  exited.catch(() => {});

  const child: Child = {
    name: spec.name,
    pid: proc.pid,
    output: tail,
    exited,
    stop: async (graceMs = 15_000) => {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return gone;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) {
          append(Buffer.from(`[bench] ${spec.name} did not stop within ${graceMs} ms: SIGKILL\n`));
          proc.kill('SIGKILL');
        }
      }, graceMs);
      const how = await gone;
      clearTimeout(timer);
      return how;
    },
  };

  const healthUrl = spec.healthUrl;
  if (healthUrl === undefined) return child;
  // Wait for the healthcheck, the child's death, or the timeout: whichever comes first.
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer yet';
  let dead = false;
  void gone.then(() => {
    dead = true;
  });
  while (!dead) {
    if (Date.now() > deadline) {
      await child.stop(2_000);
      throw new ChildFailure(`${spec.name} was not healthy within ${timeoutMs} ms (${lastProblem})`, tail());
    }
    try {
      const response = await fetch(healthUrl, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return child;
      lastProblem = `healthcheck answered ${response.status}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new ChildFailure(`${spec.name} exited during start-up (${await gone})`, tail());
}
