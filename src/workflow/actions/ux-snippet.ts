import { Type } from '@sinclair/typebox';
import { renderStringTemplate } from '../../condition/index.js';
import { defineAction } from '../registry.js';
import { dotContext, passOn, PAYLOAD } from './support.js';

export const uxSnippet = defineAction<{ html?: string; script?: string }>({
  id: 'ux-snippet',
  name: 'UX snippet',
  description:
    'Adds HTML and/or JavaScript (string templates) to the `/track` answer’s `ux`, for the tracker ' +
    'to put on the page.',
  group: 'response',
  local: true,
  configSchema: Type.Object({
    html: Type.Optional(Type.String({ description: 'HTML, a string template' })),
    script: Type.Optional(Type.String({ description: 'JavaScript, a string template' })),
  }),
  outputs: PAYLOAD,
  answersClient: true,
  check: (config) =>
    config.html === undefined && config.script === undefined ? [{ field: 'html', message: 'give html or script' }] : [],
  run: (input, config, context) => {
    const render = (text: string) => renderStringTemplate(text, dotContext(context.run));
    if (config.html !== undefined) context.ux.push({ tag: 'div', props: {}, content: render(config.html) });
    if (config.script !== undefined) context.ux.push({ tag: 'script', props: {}, content: render(config.script) });
    return passOn(input);
  },
});
