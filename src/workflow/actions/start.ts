import { Type } from '@sinclair/typebox';
import { defineAction } from '../registry.js';
import { passOn, PAYLOAD } from './support.js';

export const start = defineAction({
  id: 'start',
  name: 'Start',
  description: 'Where a run begins: passes the payload on.',
  group: 'flow',
  local: true,
  configSchema: Type.Object({}),
  outputs: PAYLOAD,
  start: true,
  run: passOn,
});
