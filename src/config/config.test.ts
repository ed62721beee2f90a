import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseRedis, schemaFor } from './config.js';

describe('loadConfig', () => {
  it('defaults to the embedded mode on port 8686 with a 1 MB payload limit', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8686, dataDir: './data', maxPayloadBytes: 1_048_576, production: false, corsOrigins: true });
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
  ])('stops on a bad %s, naming it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}:`));
  });

  it('reads PRODUCTION=yes as the production context, with its own schema', () => {
    expect(schemaFor(loadConfig({ PRODUCTION: 'yes' }))).toBe('meridian_prod');
    expect(schemaFor(loadConfig({ PRODUCTION: 'no' }))).toBe('meridian_test');
  });

  it('splits CORS_ORIGINS into a list', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });
});

describe('parseRedis (REDIS_HOST as the reference docs write it)', () => {
  it('accepts redis://host:port', () => {
    expect(parseRedis({ REDIS_HOST: 'redis://10.0.0.5:6380' })).toEqual({ host: '10.0.0.5', port: 6380, password: undefined, db: 0, tls: false });
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
    expect(parseRedis({ REDIS_HOST: 'rediss://:p%40ss@cache:7001/2' })).toEqual({ host: 'cache', port: 7001, password: 'p@ss', db: 2, tls: true });
  });
  it('lets REDIS_PASSWORD win over a password in the URL', () => {
    expect(parseRedis({ REDIS_HOST: 'redis://:inurl@cache:6379', REDIS_PASSWORD: 'env' })?.password).toBe('env');
  });
});
