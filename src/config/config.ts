import { DateMathError, parseDateRange, resolveDateRange } from '../heartbeat/date-math.js';
import { DEFAULT_LANES } from '../heartbeat/job.js';
import { QUALIFIERS, type HeartbeatSettings, type QualifyBy } from '../heartbeat/options.js';
import { normalizeEventType } from '../tracking/payload.js';

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
  /** Prefix of every queue key in Redis; installations sharing one Redis keep apart by it. */
  queuePrefix: string;
  /**
   * PRODUCTION=yes (or true, 1, on) selects the production data context, no (false, 0, off) or unset the
   * test context; anything else is refused, so a misspelt value never runs a job on the wrong data.
   */
  production: boolean;
  host: string;
  port: number;
  dataDir: string;
  apiToken?: string;
  maxPayloadBytes: number;
  /** Origins that may call the public routes (/track, /healthcheck, /openapi.json) from a browser; true: any. */
  corsOrigins: true | string[];
  /**
   * ADMIN_CORS_ORIGINS: origins that may call the admin API from a browser; none by default (the
   * console is served from the API itself), so a page elsewhere can never use an operator's token.
   */
  adminCorsOrigins: true | string[];
  logLevel: string;
  /** Longest time a /track request waits for others to share its commit. */
  groupCommitMaxWaitMs: number;
  groupCommitMaxBatch: number;
  /** Parallel commit lanes per API process on PostgreSQL (PGlite has one connection, so one lane). */
  commitLanes: number;
  /** PostgreSQL connections per process. */
  databasePoolSize: number;
  /** Things worth saying once at start-up that are not errors (e.g. a Tracardi variable we ignore). */
  notices: string[];
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

/**
 * A comma-separated list of origins (`https://shop.example`), or `*` for any. A browser sends the
 * origin exactly so, so anything else (a bare host, a path) could never match and is refused.
 */
function parseOrigins(env: Env, name: string): true | string[] | undefined {
  const raw = present(env, name);
  if (raw === undefined) return undefined;
  if (raw === '*') return true;
  const origins = raw.split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed?.origin !== origin) {
      throw new ConfigError(name, `"${origin}" is not an origin: expected scheme://host[:port] as browsers send it (https://shop.example), comma-separated, or *`);
    }
  }
  return origins;
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = present(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    databaseUrl: parseDatabaseUrl(env),
    redis: parseRedis(env),
    queuePrefix: present(env, 'QUEUE_PREFIX') ?? (yesNo(env, 'PRODUCTION', false) ? 'meridian:prod' : 'meridian:test'),
    production: yesNo(env, 'PRODUCTION', false),
    host: present(env, 'HOST') ?? '0.0.0.0',
    port: integer(env, 'PORT', 8686, 0, 65535),
    dataDir: present(env, 'DATA_DIR') ?? './data',
    apiToken: present(env, 'API_TOKEN'),
    maxPayloadBytes: integer(env, 'MAX_PAYLOAD_BYTES', 1_048_576, 1024, 1_073_741_824),
    corsOrigins: parseOrigins(env, 'CORS_ORIGINS') ?? true,
    adminCorsOrigins: parseOrigins(env, 'ADMIN_CORS_ORIGINS') ?? [],
    logLevel,
    groupCommitMaxWaitMs: integer(env, 'GROUP_COMMIT_WAIT_MS', 2, 0, 1000),
    groupCommitMaxBatch: integer(env, 'GROUP_COMMIT_MAX_BATCH', 256, 1, 10_000),
    commitLanes: integer(env, 'COMMIT_LANES', 4, 1, 64),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    notices: present(env, 'ELASTIC_HOST')
      ? ['ELASTIC_HOST is ignored: Meridian stores data in PostgreSQL; set DATABASE_URL=postgresql://user:password@host:5432/db instead']
      : [],
  };
}

export interface HeartbeatConfig extends HeartbeatSettings {
  /** HEARTBEAT_INTERVAL_S: how often `meridian start` runs the heartbeat; 0 switches it off. */
  intervalSeconds: number;
  /** HEARTBEAT_LANES: slices registered at once, each on its own connection and PostgreSQL core. */
  lanes: number;
}

/** The heartbeat job's variables, named and meant as in the reference's tracardi/com-heartbeat-job. */
export function loadHeartbeatConfig(env: Env = process.env): HeartbeatConfig {
  const rangeText = present(env, 'RANGE') ?? 'now-1d|now';
  let range: HeartbeatSettings['range'];
  let resolved: { from: Date; to: Date };
  try {
    range = parseDateRange(rangeText);
    resolved = resolveDateRange(range, new Date());
  } catch (error) {
    if (error instanceof DateMathError) throw new ConfigError('RANGE', error.message);
    throw error;
  }
  if (resolved.from > resolved.to) {
    throw new ConfigError('RANGE', `FROM (${resolved.from.toISOString()}) is after TO (${resolved.to.toISOString()})`);
  }
  return {
    range,
    skipSeconds: integer(env, 'SKIP_SECONDS', 1800, 0, 31_536_000),
    eventType: eventType(env, 'EVENT_TYPE', 'session-inactive'),
    openEventType: eventType(env, 'OPEN_EVENT_TYPE', 'visit-started'),
    closeEventType: eventType(env, 'CLOSE_EVENT_TYPE', 'visit-ended'),
    intervalSeconds: integer(env, 'HEARTBEAT_INTERVAL_S', 300, 0, 86_400),
    lanes: integer(env, 'HEARTBEAT_LANES', DEFAULT_LANES, 1, 64),
  };
}

/**
 * For inactive-session and visit-end: a session is due once idle for SKIP_SECONDS, so a RANGE that
 * starts later than that ago holds no session that can ever be due, and every run would find nothing.
 * A cron run every N seconds needs RANGE to reach back SKIP_SECONDS + N. Only a FROM that keeps its
 * distance from now (`now-20m`) is refused: a rounded one (`now/d`) or a fixed date reaches back
 * further at other times.
 */
export function checkRangeReachesIdle(settings: HeartbeatSettings, now: Date = new Date()): void {
  const start = settings.range.from;
  if (start.anchor !== 'now' || start.steps.some((step) => step.kind === 'round')) return;
  const { from } = resolveDateRange(settings.range, now);
  const idleBefore = new Date(now.getTime() - settings.skipSeconds * 1000);
  if (from >= idleBefore) {
    const minutes = Math.ceil(settings.skipSeconds / 60);
    throw new ConfigError(
      'RANGE',
      `starts at ${from.toISOString()}, but only sessions idle since before ${idleBefore.toISOString()} (SKIP_SECONDS=${settings.skipSeconds}) are due: ` +
        `nothing in range can ever be registered. Start RANGE at least SKIP_SECONDS plus the time between runs back (every 15 minutes: now-${minutes + 15}m|now or more)`,
    );
  }
}

/** QUALIFY_BY for `meridian job heartbeat`: required, and only what this version can run. */
/** What the heartbeat job can do: the session qualifiers, or segmenting the profiles active in RANGE. */
export const JOB_QUALIFIERS = [...QUALIFIERS, 'profile-segmentation'] as const;
export type JobQualifier = (typeof JOB_QUALIFIERS)[number];

export function parseQualifyBy(env: Env = process.env): JobQualifier {
  const raw = present(env, 'QUALIFY_BY');
  if (raw === undefined) throw new ConfigError('QUALIFY_BY', `required: one of ${JOB_QUALIFIERS.join(', ')}`);
  if (!(JOB_QUALIFIERS as readonly string[]).includes(raw)) {
    throw new ConfigError('QUALIFY_BY', `expected one of ${JOB_QUALIFIERS.join(', ')}, got "${raw}"`);
  }
  return raw as JobQualifier;
}

/** Event types as /track stores them: trimmed, lower case, words joined by dashes. */
function eventType(env: Env, name: string, fallback: string): string {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  if (raw.length > 128) throw new ConfigError(name, 'longer than 128 characters');
  return normalizeEventType(raw);
}

/** The PostgreSQL schema that holds one data context; production and test data never mix. */
export function schemaFor(config: Pick<Config, 'production'>): string {
  return config.production ? 'meridian_prod' : 'meridian_test';
}
