import { randomUUID } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Logger } from '../../shared/logger.js';
import { bounded, Deliveries } from '../deliveries.js';
import type { BridgeAdapter, MessageHandler } from '../port.js';
import type { BridgeConfig } from '../source-config.js';

type MqttConfig = Extract<BridgeConfig, { type: 'mqtt' }>;

/** The shared-subscription group every bridge joins, so that the broker splits a topic's messages. */
export const SHARE_GROUP = 'meridian';
/** MQTT 5 user property a dead letter carries its reason in. */
export const REASON_PROPERTY = 'meridian-reason';

/**
 * MQTT 5 with QoS 1: `prefetch` connections, each subscribed to `$share/meridian/<topic>`. mqtt.js
 * sends a PUBACK when `customHandleAcks` calls back, and handles a connection's messages one at a
 * time (PUBACKs go in the order the messages came, as MQTT asks), so connections are what lets
 * several messages share one group commit. MQTT has no negative acknowledgement: a message whose
 * commit failed is retried here until stored or until the bridge stops. Sessions are clean: a
 * graceful stop unsubscribes and finishes the one message each connection holds, but a message held
 * by a killed bridge, or published while no bridge is subscribed, is not kept by the broker (Mosquitto
 * does not hand it to another member of the share). Dead letters are published (QoS 1, on a connection
 * of their own, as a subscriber's own PUBACKs queue behind the message it holds) to `deadLetter`
 * (`<topic>/dead`) with the reason as a user property, before the original is acknowledged.
 */
export class MqttAdapter implements BridgeAdapter {
  private subscribers: MqttClient[] = [];
  private publisher: MqttClient | undefined;
  private deliveries: Deliveries | undefined;
  private stopping = false;

  constructor(
    private readonly config: MqttConfig,
    private readonly logger: Logger,
  ) {}

  private connect(role: string, options: Parameters<typeof connectAsync>[1] = {}): Promise<MqttClient> {
    return connectAsync(this.config.url, {
      protocolVersion: 5,
      clientId: `meridian-${role}-${randomUUID().slice(0, 13)}`,
      clean: true,
      reconnectPeriod: 1_000,
      ...options,
    }).then((client) => {
      client.on('error', (error) => this.logger.warn({ err: error }, 'mqtt connection error'));
      client.on('offline', () => this.logger.warn({ role }, 'mqtt offline; reconnecting'));
      return client;
    });
  }

  async start(handler: MessageHandler): Promise<void> {
    const deliveries = new Deliveries(this.untilDecided(handler), this.logger);
    this.deliveries = deliveries;
    const publisher = await this.connect('dead');
    this.publisher = publisher;
    const shared = `$share/${SHARE_GROUP}/${this.config.topic}`;
    const take = (payload: Buffer, ack: () => void) =>
      deliveries.take(
        { body: payload, brokerId: undefined },
        {
          ack,
          retry: () => {},
          deadLetter: async (reason) => {
            await publisher.publishAsync(this.config.deadLetter, payload, {
              qos: 1,
              properties: { userProperties: { [REASON_PROPERTY]: reason } },
            });
            ack();
          },
        },
      );
    for (let i = 0; i < this.config.prefetch; i++) {
      const subscriber = await this.connect('sub', {
        // One message in flight per connection: none waits in the client's buffer when the bridge stops.
        properties: { receiveMaximum: 1 },
        customHandleAcks: (_topic, payload, _packet, done) => void take(payload, () => done(0)),
      });
      // A message published with QoS 0 arrives with QoS 0 (no acknowledgement, no customHandleAcks):
      // it is collected all the same, as the broker will not send it again anyway.
      subscriber.on('message', (_topic, payload, packet) => {
        if (packet.qos === 0) void take(payload, () => {});
      });
      this.subscribers.push(subscriber);
      // Subscribed again on every reconnect: the session is clean.
      subscriber.on('connect', () => void subscriber.subscribe(shared, { qos: 1 }));
      await subscriber.subscribeAsync(shared, { qos: 1 });
    }
  }

  get connected(): boolean {
    return this.subscribers.length > 0 && [...this.subscribers, this.publisher].every((client) => client?.connected);
  }

  /** MQTT cannot hand a message back: a commit that failed is tried again here (after the bridge's backoff). */
  private untilDecided(handler: MessageHandler): MessageHandler {
    return async (message) => {
      for (;;) {
        try {
          return await handler(message);
        } catch (error) {
          if (this.stopping) throw error;
        }
      }
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const shared = `$share/${SHARE_GROUP}/${this.config.topic}`;
    await Promise.all(this.subscribers.map((subscriber) => bounded(subscriber.unsubscribeAsync(shared))));
    await this.deliveries?.idle();
    await Promise.all([...this.subscribers, this.publisher].map((client) => bounded(client?.endAsync())));
  }
}
