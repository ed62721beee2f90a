import { describe, expect, it } from 'vitest';
import { loadConfig, loadHeartbeatConfig, loadJobConfig } from '../config/config.js';
import { parseQualifyBy, withFlags } from './job.js';

describe('meridian job heartbeat', () => {
  it('accepts inactive-session, visit-end and profile-segmentation for QUALIFY_BY, and refuses the rest by name', () => {
    expect(parseQualifyBy('visit-end')).toBe('visit-end');
    expect(parseQualifyBy('profile-segmentation')).toBe('profile-segmentation');
    expect(() => parseQualifyBy(undefined)).toThrow(/^QUALIFY_BY: required/);
    expect(() => parseQualifyBy('sometimes')).toThrow(/^QUALIFY_BY: expected one of/);
  });

  it('lays the flags over the variables they override, leaving the environment it was given as it was', () => {
    const env = { QUALIFY_BY: 'visit-end', SKIP_SECONDS: '60', PRODUCTION: 'no' };
    const merged = withFlags(env, {
      qualifyBy: 'inactive-session',
      skipSeconds: '900',
      production: 'yes',
      dryRun: true,
    });
    expect(env).toEqual({ QUALIFY_BY: 'visit-end', SKIP_SECONDS: '60', PRODUCTION: 'no' });
    expect(loadJobConfig(merged).qualifyBy).toBe('inactive-session');
    expect(loadHeartbeatConfig(merged).skipSeconds).toBe(900);
    expect(loadConfig(merged).production).toBe(true);
    expect(merged).not.toHaveProperty('dryRun');
  });
});
