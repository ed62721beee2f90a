import { describe, expect, it } from 'vitest';
import {
  checkRangeReachesIdle,
  ConfigError,
  loadConfig,
  loadHeartbeatConfig,
  loadJobConfig,
  parseRedis,
  schemaFor,
} from './config.js';

describe('loadConfig', () => {
  it('defaults to the embedded mode on port 8686 with a 1 MB payload limit', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8686,
      dataDir: './data',
      maxPayloadBytes: 1_048_576,
      production: false,
      corsOrigins: true,
      workflowRunRetentionDays: 30,
      segmentChangesRetentionDays: 30,
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redis).toBeUndefined();
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PRODUCTION', 'maybe'],
    ['MAX_PAYLOAD_BYTES', '-1'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_HOST', 'http://redis:6379'],
    ['LOG_LEVEL', 'loud'],
    ['WORKFLOW_RUN_RETENTION_DAYS', '0'],
    ['SEGMENT_CHANGES_RETENTION_DAYS', '-1'],
  ])('stops on a bad %s, naming it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}:`));
  });

  it('reads PRODUCTION=yes as the production context, with its own schema, and refuses what is neither yes nor no', () => {
    expect(schemaFor(loadConfig({ PRODUCTION: 'yes' }))).toBe('meridian_prod');
    expect(schemaFor(loadConfig({ PRODUCTION: 'no' }))).toBe('meridian_test');
    expect(schemaFor(loadConfig({}))).toBe('meridian_test');
    expect(schemaFor(loadConfig({ PRODUCTION: 'true' }))).toBe('meridian_prod');
    expect(schemaFor(loadConfig({ PRODUCTION: 'off' }))).toBe('meridian_test');
    expect(() => loadConfig({ PRODUCTION: 'y' })).toThrow(/^PRODUCTION: expected yes or no, got "y"/);
  });

  it('splits CORS_ORIGINS into a list', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });

  it('gives the admin API no cross-origin access unless ADMIN_CORS_ORIGINS names origins', () => {
    expect(loadConfig({}).adminCorsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: '*' }).adminCorsOrigins).toEqual([]);
    expect(
      loadConfig({ ADMIN_CORS_ORIGINS: 'https://console.example,http://localhost:5173' }).adminCorsOrigins,
    ).toEqual(['https://console.example', 'http://localhost:5173']);
    expect(loadConfig({ ADMIN_CORS_ORIGINS: '*' }).adminCorsOrigins).toBe(true);
  });

  it.each(['CORS_ORIGINS', 'ADMIN_CORS_ORIGINS'])(
    'refuses %s entries a browser never sends as an origin',
    (variable) => {
      for (const value of [
        'shop.example',
        'https://shop.example/',
        'https://shop.example/path',
        'null',
        'https://ok.example,*',
      ]) {
        expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: ".*" is not an origin`));
      }
    },
  );
});

describe('parseRedis (REDIS_HOST as the reference docs write it)', () => {
  it('accepts redis://host:port', () => {
    expect(parseRedis({ REDIS_HOST: 'redis://10.0.0.5:6380' })).toEqual({
      host: '10.0.0.5',
      port: 6380,
      password: undefined,
      db: 0,
      tls: false,
    });
  });
  it('accepts a bare host, with REDIS_PORT and REDIS_PASSWORD', () => {
    expect(parseRedis({ REDIS_HOST: 'redis', REDIS_PORT: '6390', REDIS_PASSWORD: 'secret' })).toEqual({
      host: 'redis',
      port: 6390,
      password: 'secret',
      db: 0,
      tls: false,
    });
  });
  it('accepts host:port, a password and database in the URL, and rediss:// for TLS', () => {
    expect(parseRedis({ REDIS_HOST: 'cache:7000' })).toMatchObject({ host: 'cache', port: 7000 });
    expect(parseRedis({ REDIS_HOST: 'rediss://:p%40ss@cache:7001/2' })).toEqual({
      host: 'cache',
      port: 7001,
      password: 'p@ss',
      db: 2,
      tls: true,
    });
  });
  it('lets REDIS_PASSWORD win over a password in the URL', () => {
    expect(parseRedis({ REDIS_HOST: 'redis://:inurl@cache:6379', REDIS_PASSWORD: 'env' })?.password).toBe('env');
  });
});

describe('loadHeartbeatConfig and loadJobConfig (the reference heartbeat job variables)', () => {
  it('reads the reference example and defaults the event types', () => {
    const config = loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: ' Session Inactive ' });
    expect(config).toMatchObject({
      skipSeconds: 900,
      // As given: the heartbeat stores it as /track stores event types (heartbeat/options.test.ts).
      eventType: 'Session Inactive',
      openEventType: 'visit-started',
      closeEventType: 'visit-ended',
      intervalSeconds: 300,
      lanes: 2,
    });
    expect(loadHeartbeatConfig({ HEARTBEAT_INTERVAL_S: '0' }).intervalSeconds).toBe(0);
    expect(loadHeartbeatConfig({ HEARTBEAT_LANES: '8' }).lanes).toBe(8);
  });

  it.each([
    [{ RANGE: 'now-1x|now' }, /^RANGE: FROM part "now-1x"/],
    [{ RANGE: 'now|now-1h' }, /^RANGE: FROM .* is after TO/],
    [{ RANGE: 'now-300000y|now' }, /^RANGE: FROM part: falls outside the dates/],
    [{ RANGE: '2024-02-30|now' }, /^RANGE: FROM part "2024-02-30": "2024-02-30" is not a valid date/],
    [{ SKIP_SECONDS: '-5' }, /^SKIP_SECONDS:/],
    [{ HEARTBEAT_INTERVAL_S: 'often' }, /^HEARTBEAT_INTERVAL_S:/],
    [{ HEARTBEAT_LANES: '0' }, /^HEARTBEAT_LANES:/],
    [{ HEARTBEAT_LANES: 'many' }, /^HEARTBEAT_LANES:/],
  ])('stops on %j, naming the variable', (env, message) => {
    expect(() => loadHeartbeatConfig(env)).toThrow(message);
  });

  it('refuses, for the session qualifiers, a RANGE that starts later than SKIP_SECONDS ago: no session in it can be due', () => {
    const now = new Date('2026-03-15T10:00:00Z');
    const check = (env: Record<string, string>) => () => checkRangeReachesIdle(loadHeartbeatConfig(env), now);
    expect(check({ RANGE: 'now-20m|now', SKIP_SECONDS: '1800' })).toThrow(
      /^RANGE: starts at 2026-03-15T09:40:00\.000Z, but only sessions idle since before 2026-03-15T09:30:00\.000Z/,
    );
    expect(check({ RANGE: 'now-30m|now', SKIP_SECONDS: '1800' })).toThrow(/every 15 minutes: now-45m\|now or more/);
    expect(check({ RANGE: 'now-31m|now', SKIP_SECONDS: '1800' })).not.toThrow();
    expect(check({ RANGE: 'now-1h|now', SKIP_SECONDS: '900' })).not.toThrow();
    expect(check({})).not.toThrow();
  });

  it('does not refuse a rounded or fixed FROM, which reaches back further at other times', () => {
    const tenPastMidnight = new Date('2026-03-15T00:10:00Z');
    const check = (env: Record<string, string>) => () =>
      checkRangeReachesIdle(loadHeartbeatConfig(env), tenPastMidnight);
    expect(check({ RANGE: 'now/d|now' })).not.toThrow();
    expect(check({ RANGE: 'now/h|now' })).not.toThrow();
    expect(check({ RANGE: '2026-03-15T00:05:00Z|now' })).not.toThrow();
  });

  it('reads QUALIFY_BY as given, and RANGE with no default for a job (segmentation then takes every profile)', () => {
    expect(loadJobConfig({})).toEqual({ qualifyBy: undefined, range: undefined });
    const job = loadJobConfig({ QUALIFY_BY: 'visit-end', RANGE: 'now-2h|now-1h' });
    expect(job.qualifyBy).toBe('visit-end');
    expect(job.range).toEqual(loadHeartbeatConfig({ RANGE: 'now-2h|now-1h' }).range);
    expect(() => loadJobConfig({ RANGE: 'yesterday' })).toThrow(/^RANGE: /);
    expect(() => loadJobConfig({ RANGE: 'now|now-1h' })).toThrow(/^RANGE: FROM .* is after TO/);
  });

  it('says once that ELASTIC_HOST is not used, and which variable to set', () => {
    expect(loadConfig({ ELASTIC_HOST: 'http://elastic:9200' }).notices).toEqual([
      expect.stringMatching(/ELASTIC_HOST is ignored.*DATABASE_URL/),
    ]);
    expect(loadConfig({}).notices).toEqual([]);
  });

  it('reads the identity keys, placeholders, merge limit and phone country', () => {
    const defaults = loadConfig({}).identity;
    expect(defaults.keys).toEqual([
      'pii.email',
      'data.contact.email.main',
      'data.contact.phone.main',
      'data.identifier.id',
    ]);
    expect(defaults.placeholders).toContain('test@test.com');
    expect(defaults.maxMergeProfiles).toBe(10);
    const set = loadConfig({
      IDENTITY_KEYS: ' traits.loyalty.card , pii.email',
      IDENTITY_PLACEHOLDERS: 'n/a, nobody@x.io',
      MERGE_MAX_PROFILES: '4',
      IDENTITY_PHONE_COUNTRY: 'pl',
    }).identity;
    expect(set).toEqual({
      keys: ['traits.loyalty.card', 'pii.email'],
      placeholders: ['n/a', 'nobody@x.io'],
      maxMergeProfiles: 4,
      phoneCountry: 'PL',
    });
    expect(() => loadConfig({ IDENTITY_KEYS: 'email' })).toThrow(/^IDENTITY_KEYS: /);
    expect(() => loadConfig({ IDENTITY_PHONE_COUNTRY: 'Poland' })).toThrow(/^IDENTITY_PHONE_COUNTRY: /);
    expect(() => loadConfig({ MERGE_MAX_PROFILES: '1' })).toThrow(/^MERGE_MAX_PROFILES: /);
  });
});
