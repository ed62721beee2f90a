import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import { Deliveries, type Settlement } from '../deliveries.js';
import type { BridgeMessage } from '../message.js';
import type { BridgeAdapter, MessageHandler } from '../port.js';
import type { BridgeConfig } from '../source-config.js';

type StreamsConfig = Extract<BridgeConfig, { type: 'redis-streams' }>;
type Entry = [id: string, fields: string[]];

/** The field of a stream entry that holds the message. */
export const DATA_FIELD = 'data';
const BLOCK_MS = 1_000;

/**
 * Redis Streams: one consumer group, each bridge a consumer of its own (XREADGROUP), XACK after the
 * commit. An entry a consumer took but never acknowledged (it died, or the commit failed) is taken
 * over by XAUTOCLAIM once idle for `claimIdleMs`. Dead letters are appended to the stream
 * `deadLetter` (`<stream>:dead`) with `data`, `reason`, `stream` and `entry`.
 */
export class RedisStreamsAdapter implements BridgeAdapter {
  private reader: Redis | undefined;
  private writer: Redis | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly config: StreamsConfig,
    private readonly logger: Logger,
  ) {}

  async start(handler: MessageHandler): Promise<void> {
    // The reader waits out an outage; the writer's acks give up after a while, leaving the entry pending.
    const connectionName = `meridian-bridge-${this.consumer}`;
    this.reader = new Redis(this.config.url, { lazyConnect: true, maxRetriesPerRequest: null, connectionName });
    this.writer = new Redis(this.config.url, { lazyConnect: true, connectionName });
    for (const client of [this.reader, this.writer])
      client.on('error', (error: Error) => this.logger.warn({ err: error }, 'redis connection error'));
    await Promise.all([this.reader.connect(), this.writer.connect()]);
    const { stream, group } = this.config;
    // From the stream's start: what was added before the first bridge ran is collected too.
    await this.writer.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch((error: Error) => {
      if (!error.message.startsWith('BUSYGROUP')) throw error;
    });
    this.loop = this.consume(this.reader, new Deliveries(handler, this.logger));
  }

  get connected(): boolean {
    return this.reader?.status === 'ready' && this.writer?.status === 'ready';
  }

  private async consume(reader: Redis, deliveries: Deliveries): Promise<void> {
    const { stream, group, claimIdleMs } = this.config;
    const count = Math.min(this.config.batchSize, this.config.prefetch);
    let nextClaim = 0;
    while (!this.stopping) {
      try {
        if (Date.now() >= nextClaim) {
          await this.claimIdle(deliveries, count);
          nextClaim = Date.now() + Math.max(claimIdleMs / 2, BLOCK_MS);
        }
        const answer = (await reader.xreadgroup(
          'GROUP',
          group,
          this.consumer,
          'COUNT',
          count,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          stream,
          '>',
        )) as [string, Entry[]][] | null;
        await this.take(deliveries, answer?.[0]?.[1] ?? []);
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn({ err: error }, 'redis stream read failed; retrying');
        await sleep(BLOCK_MS);
      }
    }
  }

  /** Takes over entries left pending (by a consumer that died, or by a failed commit), one pass. */
  private async claimIdle(deliveries: Deliveries, count: number): Promise<void> {
    const { stream, group, claimIdleMs } = this.config;
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.writer!.xautoclaim(
        stream,
        group,
        this.consumer,
        claimIdleMs,
        cursor,
        'COUNT',
        count,
      )) as [string, Entry[]];
      await this.take(deliveries, entries);
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
  }

  private take(deliveries: Deliveries, entries: Entry[]): Promise<unknown> {
    return Promise.all(entries.map(([id, fields]) => deliveries.take(...this.delivery(id, fields))));
  }

  private delivery(id: string, fields: string[]): [BridgeMessage, Settlement] {
    const { stream, group, deadLetter } = this.config;
    const writer = this.writer!;
    const at = fields.findIndex((field, index) => index % 2 === 0 && field === DATA_FIELD);
    const data = at >= 0 ? fields[at + 1]! : '';
    return [
      // An entry without `data` reads as an empty message: not JSON, so it is dead-lettered.
      { body: Buffer.from(data, 'utf8'), brokerId: `${stream}/${id}` },
      {
        ack: async () => void (await writer.xack(stream, group, id)),
        // Left pending: XAUTOCLAIM takes it again once idle.
        retry: () => {},
        // Appended, then acknowledged: a crash in between repeats the dead letter, never loses it.
        deadLetter: async (reason) => {
          await writer.xadd(deadLetter, '*', DATA_FIELD, data, 'reason', reason, 'stream', stream, 'entry', id);
          await writer.xack(stream, group, id);
        },
      },
    ];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Ends a blocked read at once; a batch already read is still settled (acks go through the writer).
    this.reader?.disconnect();
    await this.loop;
    if (this.writer) {
      await this.forgetConsumer(this.writer).catch(() => {});
      await this.writer.quit().catch(() => {});
    }
  }

  /** Each start is a new consumer: one that holds nothing is removed, so the group's list stays short. */
  private async forgetConsumer(writer: Redis): Promise<void> {
    const { stream, group } = this.config;
    const pending = (await writer.xpending(stream, group, '-', '+', 1, this.consumer)) as unknown[];
    if (pending.length === 0) await writer.xgroup('DELCONSUMER', stream, group, this.consumer);
  }
}
