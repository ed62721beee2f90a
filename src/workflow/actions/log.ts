import { Type } from '@sinclair/typebox';
import { renderStringTemplate } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { dotContext, passOn, PAYLOAD } from './support.js';

export const log = defineAction<{ message: string; level: 'info' | 'warning' | 'error' }>({
  id: 'log',
  name: 'Log',
  description: 'Writes a message (a string template) to the run’s log.',
  group: 'response',
  local: true,
  configSchema: Type.Object({
    message: Type.String({ minLength: 1, description: 'The message: a string template' }),
    level: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('error')], { default: 'info' }),
  }),
  outputs: PAYLOAD,
  run: (input, config, context) => {
    context.emit({
      kind: 'log',
      level: config.level,
      message: renderStringTemplate(config.message, dotContext(context.run)),
    });
    return passOn(input);
  },
});
