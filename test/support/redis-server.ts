import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { eventually } from './eventually.js';
import { freePort } from './processes.js';
import { serviceAvailable } from './services.js';

/**
 * A redis-server of the test's own, on a free port and without persistence, so a test can take Redis
 * down (kill), hang it (SIGSTOP) and bring it back without touching the Redis other tests share.
 */
export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server: connections are refused until `start`. */
  kill(): Promise<void>;
  /** Freezes the server: connections stay open and nothing answers, until `resume`. */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port (empty: nothing was persisted). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Whether this machine can run a redis-server of its own (skips loudly, or fails under MERIDIAN_REQUIRE_SERVICES=1). */
export function redisServerAvailable(): Promise<boolean> {
  return serviceAvailable('redis-server (the binary)', async () => {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0) throw new Error(`redis-server --version exited with ${code}`);
  });
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const redis: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      const current = child;
      exited = new Promise((resolve) => current.on('exit', () => resolve()));
      const up = await eventually(
        () => ping(port),
        (ok) => ok || current.exitCode !== null,
      );
      if (!up) throw new Error(`redis-server did not start on port ${port}`);
    },
    async kill() {
      if (!running()) return;
      child!.kill('SIGKILL');
      await exited;
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      if (!running()) return;
      // A stopped process ignores SIGTERM until it is continued.
      child!.kill('SIGCONT');
      child!.kill('SIGTERM');
      await exited;
    },
  };
  await redis.start();
  return redis;
}
