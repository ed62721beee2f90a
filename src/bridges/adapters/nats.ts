import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { Logger } from '../../shared/logger.js';
import { bounded } from '../deliveries.js';
import { Deliveries, type Settlement } from '../deliveries.js';
import type { BridgeMessage } from '../message.js';
import type { BridgeAdapter, MessageHandler } from '../port.js';
import type { BridgeConfig } from '../source-config.js';

type NatsConfig = Extract<BridgeConfig, { type: 'nats' }>;

/** Header a dead letter carries its reason in. */
export const REASON_HEADER = 'Meridian-Reason';

/** Creates the stream when it does not exist; an existing stream is left as its owner configured it. */
async function ensureStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add({ name, subjects: [subject] });
  }
}

/**
 * NATS JetStream: a durable pull consumer (`durable`, shared by every bridge process of the source,
 * so they split the messages), explicit acks after the commit, at most `prefetch` unacknowledged.
 * A dead letter is published to `deadLetter` (`<subject>.dead`, kept in the stream `<stream>_dead`
 * unless another stream captures it) with the reason in a header, then the original is terminated
 * (`term`) so that it is never delivered again. A failed commit is `nak`ed: delivered again.
 */
export class NatsAdapter implements BridgeAdapter {
  private connection: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private deliveries: Deliveries | undefined;
  private up = false;

  constructor(
    private readonly config: NatsConfig,
    private readonly logger: Logger,
  ) {}

  async start(handler: MessageHandler): Promise<void> {
    const { url, stream, subject, durable, deadLetter, prefetch, batchSize, ackWaitMs } = this.config;
    const connection = await connect({ servers: url, maxReconnectAttempts: -1, name: `meridian ${durable}` });
    this.connection = connection;
    const jsm = await jetstreamManager(connection);
    await ensureStream(jsm, stream, subject);
    if (!(await jsm.streams.find(deadLetter).catch(() => undefined)))
      await ensureStream(jsm, `${stream}_dead`, deadLetter);
    const consumer = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
      max_ack_pending: prefetch,
      // How long a message a bridge took (and perhaps died holding) waits before another gets it.
      ack_wait: nanos(ackWaitMs),
    };
    await jsm.consumers.add(stream, consumer).catch(() => jsm.consumers.update(stream, durable, consumer));
    const js = jetstream(connection);
    this.messages = await (await js.consumers.get(stream, durable)).consume({ max_messages: batchSize });
    const deliveries = new Deliveries(handler, this.logger);
    this.deliveries = deliveries;
    const messages = this.messages;
    this.loop = (async () => {
      for await (const message of messages) void deliveries.take(...this.delivery(js, message));
    })().catch((error: unknown) => this.logger.error({ err: error }, 'nats consumer ended'));
    this.up = true;
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') this.up = false;
        else if (status.type === 'reconnect') this.up = true;
        this.logger.info({ status: status.type }, 'nats connection status');
      }
    })().catch(() => {});
  }

  get connected(): boolean {
    return this.up && this.connection?.isClosed() === false;
  }

  private delivery(js: ReturnType<typeof jetstream>, message: JsMsg): [BridgeMessage, Settlement] {
    return [
      { body: Buffer.from(message.data), brokerId: `${message.info.stream}/${message.seq}` },
      {
        ack: async () => void (await message.ackAck()),
        retry: () => message.nak(),
        deadLetter: async (reason) => {
          const reasonHeader = headers();
          reasonHeader.set(REASON_HEADER, reason.replace(/[\r\n]+/g, ' '));
          await js.publish(this.config.deadLetter, message.data, { headers: reasonHeader });
          message.term(reason);
        },
      },
    ];
  }

  async stop(): Promise<void> {
    await bounded(this.messages?.close());
    await this.loop;
    await this.deliveries?.idle();
    await bounded(this.connection?.drain());
    await this.connection?.close().catch(() => {});
  }
}
