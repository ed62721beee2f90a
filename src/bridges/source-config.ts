/**
 * What an event source of a broker kind says about its broker: where to read, how much to hold, and
 * how a message becomes a /track body. Checked when the source is saved (a 400 naming the field)
 * and again when a bridge starts, so a bridge never runs on a config it cannot honour.
 */
import { splitDotPath } from '../condition/path.js';
import { DomainError, type FieldProblem } from '../shared/errors.js';

export const BRIDGE_TYPES = ['rabbitmq', 'mqtt', 'nats', 'redis-streams'] as const;
export type BridgeType = (typeof BRIDGE_TYPES)[number];

/**
 * `rest` is a source /track names; `segment` one the Segment-spec routes find by its write key; the
 * broker kinds are served by `meridian bridge KIND`.
 */
export const SOURCE_TYPES = ['rest', 'segment', ...BRIDGE_TYPES] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export const isBridgeType = (type: string): type is BridgeType => (BRIDGE_TYPES as readonly string[]).includes(type);

/** Where the parts of a `format: event` message are: a dot path into the message, or a fixed value. */
export interface EventFormat {
  eventType?: string;
  eventTypePath?: string[];
  profileId?: string;
  profileIdPath?: string[];
  sessionId?: string;
  sessionIdPath?: string[];
  eventIdPath?: string[];
  /** The event's properties; the whole message when absent. */
  propertiesPath?: string[];
}

interface CommonConfig {
  url: string;
  /** Messages one bridge holds unacknowledged at once (for MQTT: subscriber connections, one message each). */
  prefetch: number;
  /** Messages asked for per read, where the broker reads in batches (NATS fetch, Redis XREADGROUP COUNT). */
  batchSize: number;
  format: 'track' | 'event';
  event: EventFormat;
  /** The broker's place for messages that can never be stored. */
  deadLetter: string;
}

export type BridgeConfig =
  | (CommonConfig & { type: 'rabbitmq'; queue: string })
  | (CommonConfig & { type: 'mqtt'; topic: string })
  | (CommonConfig & { type: 'nats'; subject: string; stream: string; durable: string; ackWaitMs: number })
  | (CommonConfig & { type: 'redis-streams'; stream: string; group: string; claimIdleMs: number });

const SCHEMES: Record<BridgeType, readonly string[]> = {
  rabbitmq: ['amqp:', 'amqps:'],
  mqtt: ['mqtt:', 'mqtts:', 'ws:', 'wss:'],
  nats: ['nats:', 'tls:'],
  'redis-streams': ['redis:', 'rediss:'],
};

/** The keys each kind accepts besides the common ones; anything else is refused by name. */
const PLACE_KEYS: Record<BridgeType, readonly string[]> = {
  rabbitmq: ['queue'],
  mqtt: ['topic'],
  nats: ['subject', 'stream', 'durable', 'ackWaitMs'],
  'redis-streams': ['stream', 'group', 'claimIdleMs'],
};
const COMMON_KEYS = ['url', 'prefetch', 'batchSize', 'format', 'deadLetter'];
const EVENT_KEYS = [
  'eventType',
  'eventTypePath',
  'profileId',
  'profileIdPath',
  'sessionId',
  'sessionIdPath',
  'eventIdPath',
  'propertiesPath',
] as const;

interface TextRule {
  pattern: RegExp;
  expected: string;
}
/** A queue, topic, subject, stream or group name. */
const NAME: TextRule = { pattern: /^[^\s\p{Cc}]+$/u, expected: 'a name without spaces or control characters' };
/** JetStream stream and consumer names. */
const NATS_NAME: TextRule = { pattern: /^[A-Za-z0-9_-]+$/, expected: 'letters, digits, _ and -' };
const ANY_TEXT: TextRule = { pattern: /[^]/, expected: 'text' };

class Reader {
  readonly problems: FieldProblem[] = [];
  constructor(private readonly config: Record<string, unknown>) {}

  private problem(key: string, message: string): undefined {
    this.problems.push({ field: `config.${key}`, message });
    return undefined;
  }

  string(key: string, required: boolean, rule = NAME): string | undefined {
    const value = this.config[key];
    if (value === undefined) return required ? this.problem(key, 'is required') : undefined;
    if (typeof value !== 'string' || value.length === 0 || value.length > 1000)
      return this.problem(key, 'expected a non-empty string of at most 1000 characters');
    if (!rule.pattern.test(value)) return this.problem(key, `expected ${rule.expected}`);
    return value;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.config[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(key, `expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  path(key: string): string[] | undefined {
    const text = this.string(key, false, ANY_TEXT);
    if (text === undefined) return undefined;
    const path = splitDotPath(text);
    return path && path.length > 0 ? path : this.problem(key, 'expected a dot path into the message, like user.id');
  }
}

function checkUrl(reader: Reader, type: BridgeType, raw: unknown): string | undefined {
  const text = reader.string('url', true, ANY_TEXT);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    reader.problems.push({ field: 'config.url', message: `expected a URL like ${SCHEMES[type][0]}//host:port` });
    return undefined;
  }
  if (!SCHEMES[type].includes(url.protocol)) {
    reader.problems.push({ field: 'config.url', message: `expected a ${SCHEMES[type].join(' or ')} URL` });
    return undefined;
  }
  return typeof raw === 'string' ? raw : undefined;
}

const hasWildcard = (type: BridgeType, place: string) =>
  type === 'mqtt' ? /[+#]/.test(place) : type === 'nats' ? /(^|\.)[*>](\.|$)/.test(place) : false;

/**
 * Whether a message sent to `name` is read from `place`: MQTT topic filters (`+` one level, `#` the
 * rest) and NATS subjects (`*` one token, `>` the rest) match by level; queues and streams by name.
 */
export function readsFrom(type: BridgeType, place: string, name: string): boolean {
  if (type !== 'mqtt' && type !== 'nats') return place === name;
  const [separator, one, rest] = type === 'mqtt' ? ['/', '+', '#'] : ['.', '*', '>'];
  const filter = place.split(separator);
  const levels = name.split(separator);
  for (const [index, level] of filter.entries()) {
    if (level === rest) return true;
    if (index >= levels.length || (level !== one && level !== levels[index])) return false;
  }
  return filter.length === levels.length;
}

function defaultDeadLetter(type: BridgeType, place: string): string {
  if (type === 'rabbitmq' || type === 'nats') return `${place}.dead`;
  if (type === 'mqtt') return `${place}/dead`;
  return `${place}:dead`;
}

function checkEventFormat(reader: Reader, format: 'track' | 'event'): EventFormat {
  const event: EventFormat = {
    eventType: reader.string('eventType', false, ANY_TEXT),
    eventTypePath: reader.path('eventTypePath'),
    profileId: reader.string('profileId', false, ANY_TEXT),
    profileIdPath: reader.path('profileIdPath'),
    sessionId: reader.string('sessionId', false, ANY_TEXT),
    sessionIdPath: reader.path('sessionIdPath'),
    eventIdPath: reader.path('eventIdPath'),
    propertiesPath: reader.path('propertiesPath'),
  };
  if (format === 'event' && event.eventType === undefined && event.eventTypePath === undefined)
    reader.problems.push({ field: 'config.eventType', message: 'format "event" needs eventType or eventTypePath' });
  for (const [fixed, path] of [
    ['eventType', 'eventTypePath'],
    ['profileId', 'profileIdPath'],
    ['sessionId', 'sessionIdPath'],
  ] as const) {
    if (event[fixed] !== undefined && event[path] !== undefined)
      reader.problems.push({ field: `config.${path}`, message: `give ${fixed} or ${path}, not both` });
  }
  return Object.fromEntries(Object.entries(event).filter(([, value]) => value !== undefined));
}

/**
 * Checks a broker source's config and fills in the defaults. Refuses with `validation_failed`,
 * naming every offending field (`config.queue`, `config.prefetch`, …).
 */
export function checkBridgeConfig(type: BridgeType, sourceId: string, raw: unknown): BridgeConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new DomainError('validation_failed', 'config: expected an object', [
      { field: 'config', message: 'expected an object' },
    ]);
  const config = raw as Record<string, unknown>;
  const reader = new Reader(config);
  const known = new Set([...COMMON_KEYS, ...PLACE_KEYS[type], ...EVENT_KEYS]);
  for (const key of Object.keys(config))
    if (!known.has(key)) reader.problems.push({ field: `config.${key}`, message: `not a ${type} setting` });

  const url = checkUrl(reader, type, config['url']);
  const format = config['format'] ?? 'track';
  if (format !== 'track' && format !== 'event')
    reader.problems.push({ field: 'config.format', message: 'expected "track" or "event"' });
  const common = {
    url: url ?? '',
    // An MQTT connection holds one message at a time (acks go in order): its prefetch is connections.
    prefetch: reader.integer('prefetch', type === 'mqtt' ? 4 : 100, 1, type === 'mqtt' ? 64 : 10_000),
    batchSize: reader.integer('batchSize', 100, 1, 10_000),
    format: format === 'event' ? ('event' as const) : ('track' as const),
    event: checkEventFormat(reader, format === 'event' ? 'event' : 'track'),
  };
  const placeKey = PLACE_KEYS[type][0]!;
  const place = reader.string(placeKey, true) ?? '';
  const deadLetter = reader.string('deadLetter', false);
  if (deadLetter === undefined && hasWildcard(type, place))
    reader.problems.push({ field: 'config.deadLetter', message: `is required when ${placeKey} has a wildcard` });
  // A dead letter read back would be dead-lettered again, forever.
  if (deadLetter !== undefined && readsFrom(type, place, deadLetter))
    reader.problems.push({ field: 'config.deadLetter', message: `must not be read from ${placeKey} "${place}"` });
  const withDeadLetter = { ...common, deadLetter: deadLetter ?? defaultDeadLetter(type, place) };

  let checked: BridgeConfig;
  if (type === 'rabbitmq') checked = { type, ...withDeadLetter, queue: place };
  else if (type === 'mqtt') checked = { type, ...withDeadLetter, topic: place };
  else if (type === 'nats') {
    const stream = reader.string('stream', true, NATS_NAME) ?? '';
    const durable = reader.string('durable', false, NATS_NAME) ?? `meridian-${sourceId}`.replace(/[^\w-]/g, '_');
    const ackWaitMs = reader.integer('ackWaitMs', 30_000, 1_000, 3_600_000);
    checked = { type, ...withDeadLetter, subject: place, stream, durable, ackWaitMs };
  } else {
    const group = reader.string('group', true) ?? '';
    const claimIdleMs = reader.integer('claimIdleMs', 30_000, 100, 86_400_000);
    checked = { type, ...withDeadLetter, stream: place, group, claimIdleMs };
  }
  if (reader.problems.length > 0)
    throw new DomainError(
      'validation_failed',
      reader.problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '),
      reader.problems,
    );
  return checked;
}

const MASK = '***';

/** The config as the API shows it: a password in the URL is masked, never returned. */
export function maskConfig(config: Record<string, unknown>): Record<string, unknown> {
  const url = config['url'];
  if (typeof url !== 'string') return config;
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return config;
    parsed.password = MASK;
    return { ...config, url: parsed.toString() };
  } catch {
    return config;
  }
}

/**
 * A client that read a source and sends its config back has the masked URL: the stored password
 * is kept when the rest of the URL is unchanged, so an edit of another field does not lose it.
 */
export function unmaskConfig(
  incoming: Record<string, unknown>,
  stored: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const url = incoming['url'];
  const storedUrl = stored?.['url'];
  if (typeof url !== 'string' || typeof storedUrl !== 'string') return incoming;
  try {
    const parsed = new URL(url);
    const previous = new URL(storedUrl);
    if (parsed.password !== MASK) return incoming;
    if (parsed.host !== previous.host || parsed.username !== previous.username) return incoming;
    parsed.password = previous.password;
    return { ...incoming, url: parsed.toString() };
  } catch {
    return incoming;
  }
}
