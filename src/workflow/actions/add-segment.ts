import { defineAction } from '../registry.js';
import { changeProfile, passOn, PAYLOAD, SegmentConfig } from './support.js';

export const addSegment = defineAction<{ segment: string }>({
  id: 'add-segment',
  name: 'Add segment',
  description: 'Puts the profile in a segment (static membership, alongside condition segments).',
  group: 'profile',
  local: true,
  configSchema: SegmentConfig,
  outputs: PAYLOAD,
  run: (input, config, context) => {
    changeProfile(context, { op: 'add-segment', segment: config.segment });
    return passOn(input);
  },
});
