import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadHeartbeatConfig, VARIABLES } from '../config/config.js';
import { environmentHelp, packageVersion } from './help.js';

describe('environmentHelp', () => {
  it('lists each variable of the groups asked for, with its meaning and default', () => {
    const help = environmentHelp('server');
    expect(help).toMatch(/^\nEnvironment variables:\n/);
    expect(help).toMatch(/^ {2}PORT +port the API listens on \(0: any free port\) \(default: 8686\)$/m);
    expect(help).toMatch(/^ {2}DATA_DIR +.* \(default: \.\/data\)$/m);
    expect(help).toMatch(/^ {2}API_TOKEN +bearer token/m);
    expect(help).not.toContain('RANGE');
    expect(environmentHelp('server', 'heartbeat')).toMatch(/^ {2}HEARTBEAT_INTERVAL_S +.*\(default: 300\)$/m);
  });

  it('shows the defaults the parsers use', () => {
    const config = loadConfig({});
    expect([config.port, config.host, config.dataDir, config.maxPayloadBytes, config.logLevel]).toEqual([
      VARIABLES.PORT.default,
      VARIABLES.HOST.default,
      VARIABLES.DATA_DIR.default,
      VARIABLES.MAX_PAYLOAD_BYTES.default,
      VARIABLES.LOG_LEVEL.default,
    ]);
    const heartbeat = loadHeartbeatConfig({});
    expect([heartbeat.intervalSeconds, heartbeat.skipSeconds, heartbeat.eventType]).toEqual([
      VARIABLES.HEARTBEAT_INTERVAL_S.default,
      VARIABLES.SKIP_SECONDS.default,
      VARIABLES.EVENT_TYPE.default,
    ]);
  });
});

describe('packageVersion', () => {
  it("is package.json's version", () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(packageVersion()).toBe(manifest.version);
  });
});
