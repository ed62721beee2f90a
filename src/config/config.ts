import { DateMathError, parseDateRange, resolveDateRange, type DateRange } from '../shared/date-math.js';

/**
 * All environment parsing lives here: every other module receives typed values. This module reads
 * and types variables and imports no capability; what a value means to a capability (which
 * QUALIFY_BY values a job can run, how an event type is stored) is the capability's to check.
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
  /** Key (32 bytes, base64) that encrypts import sources' credentials; unset: one generated and kept with the data. */
  importSecretKey?: string;
  maxPayloadBytes: number;
  /** Origins that may call the public routes (/track, /collect/…, /redirect/…, /healthcheck, /openapi.json) from a browser; true: any. */
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
  /** The scheduler worker's settings (SCHEDULER_*). */
  scheduler: { sweepMs: number; claimMs: number; maxAttempts: number; retentionDays: number };
  /** How long a claim on a workflow run holds: longer than a run may take. */
  workflowClaimMs: number;
  /** How long an import run stays its worker's without a renewal of its lease. */
  importLeaseMs: number;
  /** Days a finished workflow run stays in the run history. */
  workflowRunRetentionDays: number;
  /** Days a consumed segment change stays in the outbox, for replays; 0: kept forever. */
  segmentChangesRetentionDays: number;
  /** Identity keys, values refused as keys, the most profiles one merge may join, the country of national phone numbers. */
  identity: { keys: string[]; placeholders: string[]; maxMergeProfiles: number; phoneCountry?: string };
  /** Things worth saying once at start-up that are not errors (e.g. a Tracardi variable we ignore). */
  notices: string[];
}

export type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What a variable does, and its value when unset (as help shows it, or the number the parser uses). */
export interface VariableSpec {
  /** `server`: every command that opens the store (loadConfig); `api`: `meridian api` only; `heartbeat`: the heartbeat's settings; `job`: a job run only. */
  group: 'server' | 'api' | 'heartbeat' | 'job';
  meaning: string;
  default?: string | number;
}

/**
 * Every environment variable Meridian reads: the parsers below take their names and defaults from
 * here, and `--help` lists them from here.
 */
export const VARIABLES = {
  DATABASE_URL: {
    group: 'server',
    meaning: 'PostgreSQL connection string (postgres://…); unset: the embedded PGlite store in DATA_DIR',
  },
  REDIS_HOST: {
    group: 'server',
    meaning:
      'Redis for the job queues: redis://[:password@]host:port[/db], rediss://… or a bare host; unset: an in-process queue',
  },
  REDIS_PORT: { group: 'server', meaning: 'Redis port when REDIS_HOST is a bare host', default: 6379 },
  REDIS_PASSWORD: { group: 'server', meaning: 'Redis password (wins over one in REDIS_HOST)' },
  PRODUCTION: {
    group: 'server',
    meaning: 'yes: the production data context, no: the test context (separate schemas)',
    default: 'no',
  },
  QUEUE_PREFIX: {
    group: 'server',
    meaning: 'prefix of the queue keys in Redis',
    default: 'meridian:test, or meridian:prod with PRODUCTION=yes',
  },
  HOST: { group: 'server', meaning: 'address the API listens on', default: '0.0.0.0' },
  PORT: { group: 'server', meaning: 'port the API listens on (0: any free port)', default: 8686 },
  DATA_DIR: { group: 'server', meaning: 'folder of the embedded store (:memory: keeps nothing)', default: './data' },
  API_TOKEN: {
    group: 'server',
    meaning:
      'bearer token of the admin API; unset: `start` generates one and keeps it with the data, `api` keeps the admin API closed',
  },
  IMPORT_SECRET_KEY: {
    group: 'server',
    meaning:
      'key (32 bytes, base64) encrypting the credentials of import sources; unset: one is generated and kept with the data',
  },
  MAX_PAYLOAD_BYTES: { group: 'server', meaning: 'larger request bodies are refused with 413', default: 1_048_576 },
  CORS_ORIGINS: {
    group: 'server',
    meaning:
      'comma-separated origins allowed to call /track, /collect/…, /redirect/…, /healthcheck and /openapi.json from a browser',
    default: '*',
  },
  ADMIN_CORS_ORIGINS: {
    group: 'server',
    meaning: 'comma-separated origins allowed to call the admin API from a browser; unset: none',
  },
  LOG_LEVEL: { group: 'server', meaning: `log level: ${LOG_LEVELS.join(', ')}`, default: 'info' },
  GROUP_COMMIT_WAIT_MS: {
    group: 'server',
    meaning: 'longest a /track request waits for others to share its commit',
    default: 2,
  },
  GROUP_COMMIT_MAX_BATCH: { group: 'server', meaning: 'most /track requests committed together', default: 256 },
  COMMIT_LANES: { group: 'server', meaning: 'parallel commit lanes per API process on PostgreSQL', default: 4 },
  DATABASE_POOL_SIZE: { group: 'server', meaning: 'PostgreSQL connections per process', default: 10 },
  SCHEDULER_SWEEP_S: {
    group: 'server',
    meaning: "seconds between the scheduler worker's looks for overdue items no wake-up reached",
    default: 5,
  },
  SCHEDULER_CLAIM_S: {
    group: 'server',
    meaning: "seconds a scheduler worker holds an item; a killed worker's items are redone after it",
    default: 60,
  },
  SCHEDULER_MAX_ATTEMPTS: {
    group: 'server',
    meaning: 'attempts of a scheduled item before it is dead (retried by hand: POST /scheduled/{id}/retry)',
    default: 5,
  },
  SCHEDULER_RETENTION_DAYS: {
    group: 'server',
    meaning: 'days a done or cancelled scheduled item is kept; the scheduler worker removes older ones',
    default: 30,
  },
  WORKFLOW_CLAIM_S: {
    group: 'server',
    meaning:
      'seconds a process holds a workflow run it executes; a run its process left unfinished is executed again after this',
    default: 120,
  },
  IMPORT_LEASE_S: {
    group: 'server',
    meaning:
      "seconds an import run stays its worker's without renewing its lease (renewed every third of it); a run whose worker was killed is taken over by another after this",
    default: 30,
  },
  WORKFLOW_RUN_RETENTION_DAYS: {
    group: 'server',
    meaning: 'days a finished workflow run stays in the run history; each heartbeat run removes older ones',
    default: 30,
  },
  SEGMENT_CHANGES_RETENTION_DAYS: {
    group: 'server',
    meaning:
      'days a consumed segment change stays for rule replays, which reach back no further; each heartbeat run removes older ones (0: kept forever)',
    default: 30,
  },
  IDENTITY_KEYS: {
    group: 'server',
    meaning: 'comma-separated profile paths that identify a person; a value belongs to at most one profile',
    default: 'pii.email,data.contact.email.main,data.contact.phone.main,data.identifier.id',
  },
  IDENTITY_PLACEHOLDERS: {
    group: 'server',
    meaning: 'comma-separated values that identify nobody, never used as identity keys (empty ones never are)',
    default:
      'null,undefined,none,nil,n/a,unknown,0,test,test@test.com,test@example.com,example@example.com,email@example.com,no@email.com,noemail@noemail.com',
  },
  IDENTITY_PHONE_COUNTRY: {
    group: 'server',
    meaning:
      'country (ISO 3166 alpha-2, e.g. PL) of phone numbers written without one; unset: only +… numbers become E.164',
  },
  MERGE_MAX_PROFILES: {
    group: 'server',
    meaning: 'most profiles one merge may join; a larger merge is refused and recorded',
    default: 10,
  },
  ELASTIC_HOST: { group: 'server', meaning: "Tracardi's; ignored with a warning (set DATABASE_URL instead)" },
  HEARTBEAT_INTERVAL_S: {
    group: 'heartbeat',
    meaning: 'seconds between the heartbeat runs of `meridian start`; 0 switches it off',
    default: 300,
  },
  API_PROCESSES: {
    group: 'api',
    meaning:
      'processes serving the API on one port (node:cluster), PostgreSQL only; one that dies stops them all, exit code 1',
    default: 1,
  },
  // PostgreSQL does the work, a lane keeps one of its cores busy: two suit a two-core machine.
  HEARTBEAT_LANES: { group: 'heartbeat', meaning: 'slices the heartbeat registers at once', default: 2 },
  RANGE: {
    group: 'heartbeat',
    meaning: 'sessions (or profiles) active in FROM|TO, date math or ISO',
    default: 'now-1d|now',
  },
  SKIP_SECONDS: { group: 'heartbeat', meaning: 'a session idle this long is due', default: 1800 },
  EVENT_TYPE: { group: 'heartbeat', meaning: 'type of the inactive-session event', default: 'session-inactive' },
  OPEN_EVENT_TYPE: { group: 'heartbeat', meaning: 'type of the event that opens a visit', default: 'visit-started' },
  CLOSE_EVENT_TYPE: { group: 'heartbeat', meaning: 'type of the visit-end event', default: 'visit-ended' },
  QUALIFY_BY: { group: 'job', meaning: 'what the heartbeat job does (required)' },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;
type VariableWith<T> = {
  [Name in VariableName]: (typeof VARIABLES)[Name] extends { default: T } ? Name : never;
}[VariableName];

/** The variables of some groups, for help text. */
export function variablesOf(...groups: VariableSpec['group'][]): [VariableName, VariableSpec][] {
  return (Object.entries(VARIABLES) as [VariableName, VariableSpec][]).filter(([, spec]) =>
    groups.includes(spec.group),
  );
}

function present(env: Env, name: VariableName): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: VariableWith<number>, min: number, max: number): number {
  const raw = present(env, name);
  const fallback = VARIABLES[name].default;
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min}..${max}, got ${value}`);
  return value;
}

function yesNo(env: Env, name: VariableWith<'yes' | 'no'>): boolean {
  const raw = present(env, name)?.toLowerCase() ?? VARIABLES[name].default;
  if (['yes', 'true', '1', 'on'].includes(raw)) return true;
  if (['no', 'false', '0', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `expected yes or no, got "${raw}"`);
}

/** Accepts what the reference docs use: `redis://[:password@]host:port[/db]`, `rediss://…`, or a bare host. */
export function parseRedis(env: Env): RedisConfig | undefined {
  const raw = present(env, 'REDIS_HOST');
  if (raw === undefined) return undefined;
  const explicitPort = present(env, 'REDIS_PORT') !== undefined;
  let port = integer(env, 'REDIS_PORT', 1, 65535);
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
function parseOrigins(env: Env, name: 'CORS_ORIGINS' | 'ADMIN_CORS_ORIGINS'): true | string[] | undefined {
  const raw = present(env, name);
  if (raw === undefined) return undefined;
  if (raw === '*') return true;
  const origins = raw
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed?.origin !== origin) {
      throw new ConfigError(
        name,
        `"${origin}" is not an origin: expected scheme://host[:port] as browsers send it (https://shop.example), comma-separated, or *`,
      );
    }
  }
  return origins;
}

function importSecretKey(env: Env): string | undefined {
  const key = present(env, 'IMPORT_SECRET_KEY');
  if (key !== undefined && Buffer.from(key, 'base64').length !== 32)
    throw new ConfigError('IMPORT_SECRET_KEY', 'expected 32 bytes, base64 encoded (openssl rand -base64 32)');
  return key;
}

function list(env: Env, name: 'IDENTITY_KEYS' | 'IDENTITY_PLACEHOLDERS'): string[] {
  return (present(env, name) ?? VARIABLES[name].default)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function parseIdentity(env: Env): Config['identity'] {
  const keys = list(env, 'IDENTITY_KEYS');
  const bad = keys.find((key) => !/^(traits|pii|data)(\.[A-Za-z0-9_$-]+)+$/.test(key));
  if (bad !== undefined) {
    throw new ConfigError('IDENTITY_KEYS', `"${bad}" is not a profile path under traits, pii or data (pii.email)`);
  }
  const phoneCountry = present(env, 'IDENTITY_PHONE_COUNTRY')?.toUpperCase();
  if (phoneCountry !== undefined && !/^[A-Z]{2}$/.test(phoneCountry)) {
    throw new ConfigError('IDENTITY_PHONE_COUNTRY', `expected a two-letter country code, got "${phoneCountry}"`);
  }
  return {
    keys,
    placeholders: list(env, 'IDENTITY_PLACEHOLDERS'),
    maxMergeProfiles: integer(env, 'MERGE_MAX_PROFILES', 2, 1000),
    phoneCountry,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = present(env, 'LOG_LEVEL') ?? VARIABLES.LOG_LEVEL.default;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    databaseUrl: parseDatabaseUrl(env),
    redis: parseRedis(env),
    queuePrefix: present(env, 'QUEUE_PREFIX') ?? (yesNo(env, 'PRODUCTION') ? 'meridian:prod' : 'meridian:test'),
    production: yesNo(env, 'PRODUCTION'),
    host: present(env, 'HOST') ?? VARIABLES.HOST.default,
    port: integer(env, 'PORT', 0, 65535),
    dataDir: present(env, 'DATA_DIR') ?? VARIABLES.DATA_DIR.default,
    apiToken: present(env, 'API_TOKEN'),
    importSecretKey: importSecretKey(env),
    maxPayloadBytes: integer(env, 'MAX_PAYLOAD_BYTES', 1024, 1_073_741_824),
    corsOrigins: parseOrigins(env, 'CORS_ORIGINS') ?? true,
    adminCorsOrigins: parseOrigins(env, 'ADMIN_CORS_ORIGINS') ?? [],
    logLevel,
    groupCommitMaxWaitMs: integer(env, 'GROUP_COMMIT_WAIT_MS', 0, 1000),
    groupCommitMaxBatch: integer(env, 'GROUP_COMMIT_MAX_BATCH', 1, 10_000),
    commitLanes: integer(env, 'COMMIT_LANES', 1, 64),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 1, 1000),
    scheduler: {
      sweepMs: integer(env, 'SCHEDULER_SWEEP_S', 1, 3600) * 1000,
      claimMs: integer(env, 'SCHEDULER_CLAIM_S', 1, 86_400) * 1000,
      maxAttempts: integer(env, 'SCHEDULER_MAX_ATTEMPTS', 1, 100),
      retentionDays: integer(env, 'SCHEDULER_RETENTION_DAYS', 1, 36_500),
    },
    workflowClaimMs: integer(env, 'WORKFLOW_CLAIM_S', 1, 86_400) * 1000,
    importLeaseMs: integer(env, 'IMPORT_LEASE_S', 1, 3600) * 1000,
    workflowRunRetentionDays: integer(env, 'WORKFLOW_RUN_RETENTION_DAYS', 1, 36_500),
    segmentChangesRetentionDays: integer(env, 'SEGMENT_CHANGES_RETENTION_DAYS', 0, 36_500),
    identity: parseIdentity(env),
    notices: present(env, 'ELASTIC_HOST')
      ? [
          'ELASTIC_HOST is ignored: Meridian stores data in PostgreSQL; set DATABASE_URL=postgresql://user:password@host:5432/db instead',
        ]
      : [],
  };
}

/** `meridian api`'s own variables. */
export interface ApiConfig {
  /** API_PROCESSES: processes serving the port; more than one needs PostgreSQL (DATABASE_URL). */
  processes: number;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  return { processes: integer(env, 'API_PROCESSES', 1, 256) };
}

/** The heartbeat's variables; the field names are those of heartbeat's own settings. */
export interface HeartbeatConfig {
  range: DateRange;
  skipSeconds: number;
  /** EVENT_TYPE, OPEN_EVENT_TYPE, CLOSE_EVENT_TYPE as given, trimmed; the heartbeat stores them as /track would. */
  eventType: string;
  openEventType: string;
  closeEventType: string;
  /** HEARTBEAT_INTERVAL_S: how often `meridian start` runs the heartbeat; 0 switches it off. */
  intervalSeconds: number;
  /** HEARTBEAT_LANES: slices registered at once, each on its own connection and PostgreSQL core. */
  lanes: number;
}

/** The heartbeat job's variables, named and meant as in the reference's tracardi/com-heartbeat-job. */
export function loadHeartbeatConfig(env: Env = process.env): HeartbeatConfig {
  return {
    range: parseRange(present(env, 'RANGE') ?? VARIABLES.RANGE.default),
    skipSeconds: integer(env, 'SKIP_SECONDS', 0, 31_536_000),
    eventType: eventType(env, 'EVENT_TYPE'),
    openEventType: eventType(env, 'OPEN_EVENT_TYPE'),
    closeEventType: eventType(env, 'CLOSE_EVENT_TYPE'),
    intervalSeconds: integer(env, 'HEARTBEAT_INTERVAL_S', 0, 86_400),
    lanes: integer(env, 'HEARTBEAT_LANES', 1, 64),
  };
}

/**
 * For inactive-session and visit-end: a session is due once idle for SKIP_SECONDS, so a RANGE that
 * starts later than that ago holds no session that can ever be due, and every run would find nothing.
 * A cron run every N seconds needs RANGE to reach back SKIP_SECONDS + N. Only a FROM that keeps its
 * distance from now (`now-20m`) is refused: a rounded one (`now/d`) or a fixed date reaches back
 * further at other times.
 */
export function checkRangeReachesIdle(
  settings: Pick<HeartbeatConfig, 'range' | 'skipSeconds'>,
  now: Date = new Date(),
): void {
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

/** RANGE (FROM|TO, date math or ISO), checked against today's clock so a FROM after TO stops the start. */
function parseRange(text: string): DateRange {
  let range: DateRange;
  let resolved: { from: Date; to: Date };
  try {
    range = parseDateRange(text);
    resolved = resolveDateRange(range, new Date());
  } catch (error) {
    if (error instanceof DateMathError) throw new ConfigError('RANGE', error.message);
    throw error;
  }
  if (resolved.from > resolved.to) {
    throw new ConfigError('RANGE', `FROM (${resolved.from.toISOString()}) is after TO (${resolved.to.toISOString()})`);
  }
  return range;
}

/** The variables of a one-shot job run. */
export interface JobConfig {
  /** QUALIFY_BY as given; `job heartbeat` checks it against what it can run. */
  qualifyBy?: string;
  /** RANGE as given, no default: `job segmentation` re-decides every profile without it. */
  range?: DateRange;
}

export function loadJobConfig(env: Env = process.env): JobConfig {
  const range = present(env, 'RANGE');
  return { qualifyBy: present(env, 'QUALIFY_BY'), range: range === undefined ? undefined : parseRange(range) };
}

function eventType(env: Env, name: 'EVENT_TYPE' | 'OPEN_EVENT_TYPE' | 'CLOSE_EVENT_TYPE'): string {
  const raw = present(env, name);
  if (raw === undefined) return VARIABLES[name].default;
  if (raw.length > 128) throw new ConfigError(name, 'longer than 128 characters');
  return raw;
}

/** The PostgreSQL schema that holds one data context; production and test data never mix. */
export function schemaFor(config: Pick<Config, 'production'>): string {
  return config.production ? 'meridian_prod' : 'meridian_test';
}
