import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { WhenConfig, whenOf, whenProblems } from './support.js';

export const pause = defineAction<{ delay?: string; at?: string; untilEventType?: string }>({
  id: 'pause',
  name: 'Pause',
  description:
    'Pauses this branch: it continues on `payload` after a delay or at a time; with an event type, ' +
    'it continues on `payload` when such an event arrives first, else on `timeout`.',
  group: 'time',
  configSchema: Type.Object({
    ...WhenConfig,
    untilEventType: Type.Optional(Type.String({ minLength: 1, description: 'Continue early on this event type' })),
  }),
  outputs: ['payload', 'timeout'],
  check: whenProblems,
  run: (_input, config, context) => {
    const at = whenOf(config, context);
    context.pause(
      config.untilEventType
        ? { port: 'payload', at, untilEventType: config.untilEventType, timeoutPort: 'timeout' }
        : { port: 'payload', at },
    );
    return { ports: {} };
  },
});
