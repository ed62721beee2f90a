import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD, resolveValue, WhenConfig, whenOf, whenProblems } from './support.js';

export const scheduleEvent = defineAction<{
  type: string;
  properties: Record<string, unknown>;
  delay?: string;
  at?: string;
}>({
  id: 'schedule-event',
  name: 'Schedule event',
  description: 'Hands the scheduler an event to track for the profile later: after a delay or at a time.',
  group: 'time',
  configSchema: Type.Object({
    type: Type.String({ minLength: 1, description: 'The event type' }),
    properties: Type.Record(Type.String(), Type.Unknown(), {
      default: {},
      description: 'The event properties: an object template',
    }),
    ...WhenConfig,
  }),
  outputs: PAYLOAD,
  check: whenProblems,
  run: (input, config, context) => {
    const at = whenOf(config, context);
    const properties = resolveValue(config.properties, context.run) as Record<string, unknown>;
    context.emit({ kind: 'schedule-event', type: config.type, properties, at });
    return passOn(input);
  },
});
