import type { Logger } from '../../shared/logger.js';
import type { BridgeAdapter } from '../port.js';
import type { BridgeConfig } from '../source-config.js';
import { MqttAdapter } from './mqtt.js';
import { NatsAdapter } from './nats.js';
import { RabbitMqAdapter } from './rabbitmq.js';
import { RedisStreamsAdapter } from './redis-streams.js';

/** The one place a broker kind meets its client library. */
export function openAdapter(config: BridgeConfig, logger: Logger): BridgeAdapter {
  switch (config.type) {
    case 'rabbitmq':
      return new RabbitMqAdapter(config, logger);
    case 'mqtt':
      return new MqttAdapter(config, logger);
    case 'nats':
      return new NatsAdapter(config, logger);
    case 'redis-streams':
      return new RedisStreamsAdapter(config, logger);
  }
}
