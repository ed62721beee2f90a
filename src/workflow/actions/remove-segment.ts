import { defineAction } from '../registry.js';
import { changeProfile, passOn, PAYLOAD, SegmentConfig } from './support.js';

export const removeSegment = defineAction<{ segment: string }>({
  id: 'remove-segment',
  name: 'Remove segment',
  description: 'Takes the profile out of a segment.',
  group: 'profile',
  local: true,
  configSchema: SegmentConfig,
  outputs: PAYLOAD,
  run: (input, config, context) => {
    changeProfile(context, { op: 'remove-segment', segment: config.segment });
    return passOn(input);
  },
});
