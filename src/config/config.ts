/**
 * All environment parsing lives here: every other module receives a typed Config.
 * A bad value throws ConfigError naming the variable, so start-up stops with a clear message.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export interface RedisConfig {
  host: string;
  port: number;
  password?: string;
  db: number;
  tls: boolean;
}

export interface Config {
  /** PostgreSQL connection string; absent means the embedded PGlite store in dataDir. */
  databaseUrl?: string;
  /** Redis for BullMQ; absent means the in-process queue. */
  redis?: RedisConfig;
  /** PRODUCTION=yes selects the production data context, anything else the test context. */
  production: boolean;
  host: string;
  port: number;
  dataDir: string;
  apiToken?: string;
  maxPayloadBytes: number;
  corsOrigins: true | string[];
  logLevel: string;
  /** Longest time a /track request waits for others to share its commit. */
  groupCommitMaxWaitMs: number;
  groupCommitMaxBatch: number;
}

export type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function present(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min}..${max}, got ${value}`);
  return value;
}

function yesNo(env: Env, name: string, fallback: boolean): boolean {
  const raw = present(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['yes', 'true', '1', 'on'].includes(raw)) return true;
  if (['no', 'false', '0', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `expected yes or no, got "${raw}"`);
}

/** Accepts what the reference docs use: `redis://[:password@]host:port[/db]`, `rediss://…`, or a bare host. */
export function parseRedis(env: Env): RedisConfig | undefined {
  const raw = present(env, 'REDIS_HOST');
  if (raw === undefined) return undefined;
  const explicitPort = present(env, 'REDIS_PORT') !== undefined;
  let port = integer(env, 'REDIS_PORT', 6379, 1, 65535);
  let password = present(env, 'REDIS_PASSWORD');
  let db = 0;
  let tls = false;
  let host = raw;
  if (/^[a-z]+:\/\//i.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError('REDIS_HOST', `not a valid URL: "${raw}"`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new ConfigError('REDIS_HOST', `expected redis:// or rediss://, got "${url.protocol}"`);
    }
    tls = url.protocol === 'rediss:';
    host = url.hostname.replace(/^\[|\]$/g, '');
    if (url.port && !explicitPort) port = Number(url.port);
    if (url.password && password === undefined) password = decodeURIComponent(url.password);
    const path = url.pathname.replace(/^\//, '');
    if (path !== '') {
      if (!/^\d+$/.test(path)) throw new ConfigError('REDIS_HOST', `database must be a number, got "${path}"`);
      db = Number(path);
    }
  } else if (/^[^:\s]+:\d+$/.test(raw)) {
    const [h, p] = raw.split(':') as [string, string];
    host = h;
    if (!explicitPort) port = Number(p);
  }
  if (host === '') throw new ConfigError('REDIS_HOST', 'host is empty');
  return { host, port, password, db, tls };
}

function parseDatabaseUrl(env: Env): string | undefined {
  const raw = present(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(raw)) {
    throw new ConfigError('DATABASE_URL', 'expected a postgres:// or postgresql:// URL');
  }
  return raw;
}

function parseCors(env: Env): true | string[] {
  const raw = present(env, 'CORS_ORIGINS');
  if (raw === undefined || raw === '*') return true;
  return raw.split(',').map((origin) => origin.trim()).filter(Boolean);
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = present(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    databaseUrl: parseDatabaseUrl(env),
    redis: parseRedis(env),
    production: yesNo(env, 'PRODUCTION', false),
    host: present(env, 'HOST') ?? '0.0.0.0',
    port: integer(env, 'PORT', 8686, 0, 65535),
    dataDir: present(env, 'DATA_DIR') ?? './data',
    apiToken: present(env, 'API_TOKEN'),
    maxPayloadBytes: integer(env, 'MAX_PAYLOAD_BYTES', 1_048_576, 1024, 1_073_741_824),
    corsOrigins: parseCors(env),
    logLevel,
    groupCommitMaxWaitMs: integer(env, 'GROUP_COMMIT_WAIT_MS', 2, 0, 1000),
    groupCommitMaxBatch: integer(env, 'GROUP_COMMIT_MAX_BATCH', 256, 1, 10_000),
  };
}

/** The PostgreSQL schema that holds one data context; production and test data never mix. */
export function schemaFor(config: Pick<Config, 'production'>): string {
  return config.production ? 'meridian_prod' : 'meridian_test';
}
