import {
  connect,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type RecoveringChannelModel,
} from 'amqplib';
import type { Logger } from '../../shared/logger.js';
import { bounded, Deliveries } from '../deliveries.js';
import type { BridgeAdapter, MessageHandler } from '../port.js';
import type { BridgeConfig } from '../source-config.js';

type RabbitConfig = Extract<BridgeConfig, { type: 'rabbitmq' }>;

/** Header a dead letter carries its reason in. */
export const REASON_HEADER = 'x-meridian-reason';

export const connectionName = (queue: string) => `meridian bridge ${queue}`;

/**
 * Declares the queues that do not exist (durable, classic). A queue its owner declared, with other
 * arguments (a quorum queue, a DLX, a TTL), is used as it is: declaring it again would be refused.
 */
async function ensureQueues(model: ChannelModel, queues: string[]): Promise<void> {
  for (const queue of queues) {
    // A failed check closes its channel, so each check gets one of its own.
    const probe = await model.createChannel();
    probe.on('error', () => {});
    const exists = await probe.checkQueue(queue).then(
      () => true,
      () => false,
    );
    if (exists) {
      await probe.close();
      continue;
    }
    const declare = await model.createChannel();
    await declare.assertQueue(queue, { durable: true });
    await declare.close();
  }
}

/**
 * RabbitMQ: competing consumers on one durable queue, `prefetch` unacknowledged messages per bridge.
 * Dead letters go to the durable queue `deadLetter` (`<queue>.dead`) with the reason in a header,
 * published on a confirm channel: the original is acknowledged only once the broker holds the copy.
 * amqplib's recovery reconnects with backoff and runs `setup` again; a message held on a lost
 * channel is redelivered by the broker.
 */
export class RabbitMqAdapter implements BridgeAdapter {
  private connection: RecoveringChannelModel | undefined;
  private channel: { channel: ConfirmChannel; consumerTag: string } | undefined;
  private deliveries: Deliveries | undefined;
  private stopping = false;
  private up = false;

  constructor(
    private readonly config: RabbitConfig,
    private readonly logger: Logger,
  ) {}

  async start(handler: MessageHandler): Promise<void> {
    const deliveries = new Deliveries(handler, this.logger);
    this.deliveries = deliveries;
    const { queue, deadLetter, prefetch } = this.config;
    this.connection = await connect(this.config.url, {
      // Shown by `rabbitmqctl list_connections client_properties` and the management UI.
      clientProperties: { connection_name: connectionName(queue) },
      recovery: {
        maxDelay: 30_000,
        // A broker down at start fails the start; the bridge runner retries it with its own backoff.
        initialMaxRetries: 0,
        setup: async (model: ChannelModel) => {
          if (this.stopping) return;
          await ensureQueues(model, [queue, deadLetter]);
          const channel = await model.createConfirmChannel();
          channel.on('error', (error: Error) => this.logger.warn({ err: error }, 'rabbitmq channel error'));
          await channel.prefetch(prefetch);
          const { consumerTag } = await channel.consume(queue, (message: ConsumeMessage | null) => {
            if (message) void deliveries.take(...this.delivery(channel, message));
          });
          this.channel = { channel, consumerTag };
          this.up = true;
        },
      },
    });
    this.connection.on('disconnect', (error: Error) => {
      this.up = false;
      this.logger.warn({ err: error }, 'rabbitmq disconnected; reconnecting');
    });
    this.connection.on('error', (error: Error) => this.logger.warn({ err: error }, 'rabbitmq connection error'));
  }

  get connected(): boolean {
    return this.up;
  }

  private delivery(channel: ConfirmChannel, message: ConsumeMessage) {
    const messageId: unknown = message.properties.messageId;
    return [
      { body: message.content, brokerId: typeof messageId === 'string' ? messageId : undefined },
      {
        ack: () => channel.ack(message),
        retry: () => channel.nack(message, false, true),
        deadLetter: async (reason: string) => {
          await new Promise<void>((resolve, reject) =>
            channel.sendToQueue(
              this.config.deadLetter,
              message.content,
              {
                persistent: true,
                contentType: message.properties.contentType as string | undefined,
                messageId: messageId as string | undefined,
                headers: { ...message.properties.headers, [REASON_HEADER]: reason },
              },
              (error: unknown) =>
                error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
            ),
          );
          channel.ack(message);
        },
      },
    ] as const;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.channel) await bounded(this.channel.channel.cancel(this.channel.consumerTag));
    await this.deliveries?.idle();
    await bounded(this.connection?.close());
  }
}
