import { defineAction } from '../registry.js';
import { branch, TRUE_FALSE, SegmentConfig } from './support.js';

export const hasSegment = defineAction<{ segment: string }>({
  id: 'has-segment',
  name: 'Has segment',
  description: 'Takes `true` when the profile is in the segment, else `false`.',
  group: 'profile',
  local: true,
  configSchema: SegmentConfig,
  outputs: TRUE_FALSE,
  run: (input, config, context) => {
    const segments = context.run.profile?.['segments'];
    return branch(Array.isArray(segments) && segments.includes(config.segment), input);
  },
});
