/** Needs Redis at 127.0.0.1:6379 (REDIS_TEST_HOST / REDIS_TEST_PORT override). */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import type { RedisConfig } from '../src/config/config.js';
import { BullmqJobQueue, ioredisOptions } from '../src/queue/bullmq.js';
import { jobQueueContract } from './support/queue-contract.js';
import { createLogger } from '../src/shared/logger.js';
import { serviceAvailable } from './support/services.js';

const redis: RedisConfig = {
  host: process.env['REDIS_TEST_HOST'] ?? '127.0.0.1',
  port: Number(process.env['REDIS_TEST_PORT'] ?? 6379),
  db: 0,
  tls: false,
};
// Unique per run so parallel runs and leftovers from a crashed run never meet.
const prefix = `meridian:test:${randomUUID()}`;

/** A client that gives up at once, so probing and cleaning up never hang on a dead server. */
function directClient(): Redis {
  const failFast = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null };
  return new Redis({ ...ioredisOptions(redis), ...failFast });
}

async function withClient(use: (client: Redis) => Promise<unknown>): Promise<void> {
  const client = directClient();
  // connect() only says "Connection is closed"; the 'error' event carries the cause (ECONNREFUSED…).
  let cause: unknown;
  client.on('error', (error) => (cause = error));
  try {
    await client.connect().catch((error) => Promise.reject(cause ?? error));
    await use(client);
  } finally {
    client.disconnect();
  }
}

async function deleteKeys(pattern: string): Promise<void> {
  await withClient(async (client) => {
    for await (const keys of client.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await client.unlink(...keys);
    }
  });
}

const redisUp = await serviceAvailable(`Redis at ${redis.host}:${redis.port}`, () =>
  withClient((client) => client.ping()),
);

describe.skipIf(!redisUp)('BullmqJobQueue', () => {
  afterAll(() => deleteKeys(`${prefix}:*`));
  jobQueueContract(() => new BullmqJobQueue({ redis, prefix, logger: createLogger('silent') }));
});
