import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import type { ActionSpec } from '../model.js';
import { changeTarget, passOn, PAYLOAD, TargetPath, targetProblems } from './support.js';

/** Increment and decrement: one operation, the sign set by the action. */
export function counter(id: string, name: string, sign: 1 | -1): ActionSpec {
  return defineAction<{ target: string; by: number }>({
    id,
    name,
    description: `${name}s a number (a missing field counts as 0).`,
    group: 'data',
    local: true,
    configSchema: Type.Object({
      target: TargetPath('The number to change'),
      by: Type.Number({ default: 1, description: 'By how much' }),
    }),
    outputs: PAYLOAD,
    check: (config) => targetProblems('target', config.target),
    run: (_input, config, context) => {
      changeTarget(context, config.target, (path) => ({ op: 'increment', path, by: sign * config.by }));
      return passOn(context.run.payload);
    },
  });
}

export const increment = counter('increment', 'Increment', 1);
