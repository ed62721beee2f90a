import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';
import { serviceAvailable } from './services.js';

/** A redis-server of the test's own, on a free port, that the test can freeze, kill and start again. */
export interface OwnRedis {
  port: number;
  url: string;
  /** SIGSTOP: connections stay open and nothing answers, as with a hung server. */
  freeze(): void;
  thaw(): void;
  /** SIGKILL: connections are refused until `start`. */
  kill(): Promise<void>;
  /** Starts an empty server on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function redisServerAvailable(): Promise<boolean> {
  return serviceAvailable('the redis-server binary', async () => {
    const probe = spawnSync('redis-server', ['--version']);
    if (probe.status !== 0) throw new Error(probe.error?.message ?? 'redis-server --version failed');
  });
}

async function untilAnswers(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // Refused until the server listens: connect() rejects, the event need not be logged too.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await untilAnswers(port);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
    kill,
    start,
    stop: kill,
  };
}
