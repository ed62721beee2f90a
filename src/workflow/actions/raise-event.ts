import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD, resolveValue } from './support.js';

/**
 * The loop guard: an event a flow raised carries its depth in `metadata.raiseDepth`; a flow it
 * starts may raise again only this many times in a chain, so a flow raising its own trigger ends.
 */
export const MAX_RAISE_DEPTH = 3;

export const raiseEvent = defineAction<{ type: string; properties: Record<string, unknown> }>({
  id: 'raise-event',
  name: 'Raise event',
  description: 'Tracks a new event for the profile through the collect pipeline, after the run.',
  group: 'outside',
  configSchema: Type.Object({
    type: Type.String({ minLength: 1, description: 'The event type' }),
    properties: Type.Record(Type.String(), Type.Unknown(), {
      default: {},
      description: 'The event properties: an object template',
    }),
  }),
  outputs: PAYLOAD,
  run: (input, config, context) => {
    const metadata = context.run.event?.['metadata'] as Record<string, unknown> | undefined;
    const depth = typeof metadata?.['raiseDepth'] === 'number' ? metadata['raiseDepth'] : 0;
    if (depth >= MAX_RAISE_DEPTH) {
      throw new Error(`not raising ${config.type}: ${depth} events in a chain were already raised by flows`);
    }
    const properties = resolveValue(config.properties, context.run) as Record<string, unknown>;
    context.emit({ kind: 'raise-event', type: config.type, properties, depth: depth + 1 });
    return passOn(input);
  },
});
