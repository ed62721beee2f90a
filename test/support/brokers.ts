/**
 * One kit per broker for the bridge tests: probe, a config with names of its own, publish, and read
 * the dead letters back. Needs RabbitMQ (5672, guest/guest), Mosquitto (1883), NATS with JetStream
 * (4222) and Redis (6379) on 127.0.0.1; BROKER_TEST_HOST overrides the host.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { connect as amqpConnect } from 'amqplib';
import { connectAsync, type MqttClient } from 'mqtt';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { connectionName, REASON_HEADER as AMQP_REASON } from '../../src/bridges/adapters/rabbitmq.js';
import { REASON_PROPERTY as MQTT_REASON } from '../../src/bridges/adapters/mqtt.js';
import { REASON_HEADER as NATS_REASON } from '../../src/bridges/adapters/nats.js';
import { DATA_FIELD } from '../../src/bridges/adapters/redis-streams.js';
import type { BridgeType } from '../../src/bridges/source-config.js';

const HOST = process.env['BROKER_TEST_HOST'] ?? '127.0.0.1';

export interface DeadLetter {
  body: string;
  reason: string;
}

/** One test's broker place: its own queue, topic, subject or stream. */
export interface BrokerPlace {
  config: Record<string, unknown>;
  publish(bodies: string[]): Promise<void>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Messages taken by a bridge and not yet acknowledged, where the broker tells it. */
  unacknowledged?(): Promise<number>;
  /** Has the broker drop the bridges' connections (as a broker restart does), where it can be asked to. */
  dropConnections?(): Promise<number>;
  close(): Promise<void>;
}

export interface BrokerKit {
  type: BridgeType;
  name: string;
  /** Its places can drop the bridges' connections (`dropConnections`). */
  dropsConnections: boolean;
  probe(): Promise<void>;
  place(settings: Record<string, unknown>): Promise<BrokerPlace>;
}

const unique = () => `meridian_test_${randomUUID().slice(0, 8)}`;

const rabbitmq: BrokerKit = {
  type: 'rabbitmq',
  name: `RabbitMQ at ${HOST}:5672`,
  // Through rabbitmqctl, which talks to the broker on this machine.
  dropsConnections: HOST === '127.0.0.1',
  probe: async () => (await amqpConnect(`amqp://guest:guest@${HOST}:5672`)).close(),
  async place(settings) {
    const url = `amqp://guest:guest@${HOST}:5672`;
    const queue = unique();
    const connection = await amqpConnect(url);
    const channel = await connection.createConfirmChannel();
    // Declared by its owner with arguments of its own, as production queues are.
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    return {
      config: { url, queue, ...settings },
      publish: async (bodies) => {
        for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
        await channel.waitForConfirms();
      },
      deadLetters: async () => {
        const letters: DeadLetter[] = [];
        await channel.assertQueue(`${queue}.dead`, { durable: true });
        for (let got = await channel.get(`${queue}.dead`); got; got = await channel.get(`${queue}.dead`)) {
          letters.push({ body: got.content.toString(), reason: String(got.properties.headers?.[AMQP_REASON]) });
        }
        // Held until all are read, then handed back: the next look sees them again.
        channel.nackAll(true);
        return letters;
      },
      dropConnections: async () => {
        const run = (...args: string[]) => promisify(execFile)('rabbitmqctl', ['-q', ...args]);
        const { stdout } = await run('--no-table-headers', 'list_connections', 'pid', 'client_properties');
        const ours = stdout.split('\n').filter((line) => line.includes(connectionName(queue)));
        for (const line of ours) await run('close_connection', line.split('\t')[0]!, 'test: broker restart');
        return ours.length;
      },
      close: async () => {
        await channel.deleteQueue(queue);
        await channel.deleteQueue(`${queue}.dead`);
        await connection.close();
      },
    };
  },
};

const mqtt: BrokerKit = {
  type: 'mqtt',
  name: `Mosquitto at ${HOST}:1883`,
  dropsConnections: false,
  probe: async () => (await connectAsync(`mqtt://${HOST}:1883`, { reconnectPeriod: 0 })).endAsync(),
  async place(settings) {
    const url = `mqtt://${HOST}:1883`;
    const topic = `meridian-test/${unique()}`;
    const client: MqttClient = await connectAsync(url, { protocolVersion: 5 });
    const letters: DeadLetter[] = [];
    client.on('message', (_topic, payload, packet) => {
      const reason = packet.properties?.userProperties?.[MQTT_REASON];
      letters.push({ body: payload.toString(), reason: String(reason) });
    });
    await client.subscribeAsync(`${topic}/dead`, { qos: 1 });
    return {
      config: { url, topic, ...settings },
      // Every other message with QoS 0, which a QoS 1 subscription receives with QoS 0.
      publish: async (bodies) =>
        void (await Promise.all(
          bodies.map((body, i) => client.publishAsync(topic, body, { qos: i % 2 === 0 ? 1 : 0 })),
        )),
      deadLetters: () => Promise.resolve([...letters]),
      close: () => client.endAsync(),
    };
  },
};

const nats: BrokerKit = {
  type: 'nats',
  name: `NATS JetStream at ${HOST}:4222`,
  dropsConnections: false,
  probe: async () => {
    const connection = await natsConnect({ servers: `nats://${HOST}:4222`, reconnect: false });
    await (await jetstreamManager(connection)).getAccountInfo();
    await connection.close();
  },
  async place(settings) {
    const url = `nats://${HOST}:4222`;
    const name = unique();
    const subject = `meridian_test.${name}`;
    const connection: NatsConnection = await natsConnect({ servers: url });
    const jsm = await jetstreamManager(connection);
    await jsm.streams.add({ name, subjects: [subject] });
    const js = jetstream(connection);
    return {
      config: { url, subject, stream: name, durable: name, ackWaitMs: 2_000, ...settings },
      // No `unacknowledged`: JetStream counts the messages a stopped bridge had pulled but not yet taken
      // as pending until `ackWaitMs`, then hands them to another bridge (the restart below stores them once).
      publish: async (bodies) => {
        for (const body of bodies) await js.publish(subject, body);
      },
      deadLetters: async () => {
        const stream = `${name}_dead`;
        const info = await jsm.streams.info(stream).catch(() => undefined);
        const letters: DeadLetter[] = [];
        for (let seq = 1; seq <= (info?.state.last_seq ?? 0); seq++) {
          const message = await jsm.streams.getMessage(stream, { seq });
          if (message) letters.push({ body: message.string(), reason: message.header.get(NATS_REASON) });
        }
        return letters;
      },
      close: async () => {
        await jsm.streams.delete(name).catch(() => {});
        await jsm.streams.delete(`${name}_dead`).catch(() => {});
        await connection.close();
      },
    };
  },
};

const redisStreams: BrokerKit = {
  type: 'redis-streams',
  name: `Redis at ${HOST}:6379`,
  dropsConnections: true,
  probe: async () => {
    const client = new Redis({ host: HOST, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await client.connect();
    await client.ping();
    client.disconnect();
  },
  async place(settings) {
    const url = `redis://${HOST}:6379`;
    const stream = `meridian:test:${unique()}`;
    const client = new Redis(url);
    return {
      config: { url, stream, group: 'meridian', claimIdleMs: 200, ...settings },
      unacknowledged: async () => ((await client.xpending(stream, 'meridian')) as [number])[0],
      publish: async (bodies) => {
        for (const body of bodies) await client.xadd(stream, '*', DATA_FIELD, body);
      },
      deadLetters: async () =>
        (await client.xrange(`${stream}:dead`, '-', '+')).map(([, fields]) => {
          const value = (key: string) => fields[fields.indexOf(key) + 1]!;
          return { body: value(DATA_FIELD), reason: value('reason') };
        }),
      dropConnections: async () => {
        let dropped = 0;
        const consumers = (await client.xinfo('CONSUMERS', stream, 'meridian')) as string[][];
        for (const fields of consumers) {
          const name = fields[fields.indexOf('name') + 1]!;
          const clients = String(await client.client('LIST')).split('\n');
          for (const line of clients.filter((entry) => entry.includes(` name=meridian-bridge-${name} `))) {
            await client.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
            dropped++;
          }
        }
        return dropped;
      },
      close: async () => {
        await client.del(stream, `${stream}:dead`);
        client.disconnect();
      },
    };
  },
};

export const BROKER_KITS: readonly BrokerKit[] = [rabbitmq, mqtt, nats, redisStreams];
