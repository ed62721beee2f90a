import { UAParser } from 'ua-parser-js';

/** What a visit's session records about where it comes from. */
export interface SessionFacts {
  device: Record<string, unknown>;
  os: Record<string, unknown>;
  app: Record<string, unknown>;
  context: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;

function pick(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) node = asObject(node)?.[key];
  return node;
}

/** The object without its empty fields (undefined, null, ''); a loop, as sessionFacts runs on every request. */
function compact(object: Json): Json {
  const kept: Json = {};
  for (const key in object) {
    const value = object[key];
    if (value !== undefined && value !== null && value !== '') kept[key] = value;
  }
  return kept;
}

/** Browsers send few distinct user agents; parsing each once keeps the hot path cheap. */
const UA_CACHE_LIMIT = 2048;
const uaCache = new Map<string, UAParser.IResult>();

export function parseUserAgent(userAgent: string): UAParser.IResult {
  let parsed = uaCache.get(userAgent);
  if (!parsed) {
    parsed = new UAParser(userAgent).getResult();
    if (uaCache.size >= UA_CACHE_LIMIT) uaCache.delete(uaCache.keys().next().value as string);
    uaCache.set(userAgent, parsed);
  }
  return parsed;
}

/**
 * The tracker's context fields that are read as text. A value of another type is ignored, as
 * Tracardi ignores it, rather than refusing the event; the answer's warnings name it.
 */
const CONTEXT_TEXT_FIELDS = {
  userAgent: ['browser', 'local', 'browser', 'userAgent'],
  language: ['browser', 'local', 'browser', 'language'],
  timezone: ['time', 'tz'],
  legacyTimezone: ['timezone'],
} as const;

const textAt = (context: Json | undefined, field: keyof typeof CONTEXT_TEXT_FIELDS): string | undefined => {
  const value = pick(context, CONTEXT_TEXT_FIELDS[field]);
  return typeof value === 'string' ? value : undefined;
};

/** Warnings for the context's text fields that hold something else (and are therefore ignored). */
export function ignoredContextFields(context: Json | null | undefined): string[] {
  if (!context) return [];
  return Object.values(CONTEXT_TEXT_FIELDS)
    .filter((path) => {
      const value = pick(context, path);
      return value !== undefined && value !== null && typeof value !== 'string';
    })
    .map((path) => `context.${path.join('.')}: expected a string, ignored`);
}

const SCREEN_PATH = ['screen', 'local'];
const BROWSER_SCREEN_PATH = ['browser', 'local', 'screen'];

const UTM_KEYS = ['source', 'medium', 'campaign', 'term', 'content'] as const;

function utmFrom(context: Json | undefined, page: Json | undefined): Json | undefined {
  const explicit = asObject(context?.utm);
  if (explicit) return explicit;
  const url = page?.url;
  // A URL without '?' has no query string, so no UTM parameters: most page views skip parsing it.
  if (typeof url !== 'string' || !url.includes('?')) return undefined;
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return undefined;
  }
  const utm = compact(Object.fromEntries(UTM_KEYS.map((key) => [key, query.get(`utm_${key}`) ?? undefined])));
  return Object.keys(utm).length > 0 ? utm : undefined;
}

const isText = (value: unknown): value is string | number => typeof value === 'string' || typeof value === 'number';

/** Tracardi's session `device.resolution`, `color_depth` and `orientation`, from the screen the tracker saw. */
function screenFacts(screen: Json | undefined): Json {
  if (!screen) return {};
  const { width, height, colorDepth, orientation } = screen;
  const depth = typeof colorDepth === 'string' ? Number.parseInt(colorDepth, 10) : colorDepth;
  return {
    resolution: isText(width) && isText(height) ? `${width}x${height}` : undefined,
    color_depth: typeof depth === 'number' && Number.isInteger(depth) ? depth : undefined,
    orientation: typeof orientation === 'string' ? orientation : undefined,
  };
}

/**
 * Derives the session's device, OS, app and context from the request, the way Tracardi's tracker
 * reports them: the user agent from `context.browser.local.browser.userAgent` (the browser's own, where
 * the header may name a server that relays the events), else from the header; the
 * screen from `context.screen.local` (older trackers: `context.screen`, `context.browser.local.screen`),
 * the time zone from `context.time.tz`, the location from `context.location` (Tracardi's `device.geo`),
 * the page from `context.page` or, as the browser tracker sends it, from the first event's `context.page`.
 */
export function sessionFacts(input: {
  userAgent?: string;
  context?: Json | null;
  eventContexts?: readonly (Json | null | undefined)[];
  deviceId?: string;
  language?: string;
}): SessionFacts {
  const context = input.context ?? undefined;
  const reported = textAt(context, 'userAgent');
  const userAgent = reported !== undefined && reported !== '' ? reported : input.userAgent;
  const ua = userAgent ? parseUserAgent(userAgent) : undefined;
  const screen =
    asObject(pick(context, SCREEN_PATH)) ?? asObject(context?.screen) ?? asObject(pick(context, BROWSER_SCREEN_PATH));
  const timezone = textAt(context, 'timezone') ?? textAt(context, 'legacyTimezone');
  const language = textAt(context, 'language') ?? input.language;
  const page =
    asObject(context?.page) ??
    input.eventContexts?.map((eventContext) => asObject(eventContext?.page)).find((found) => found !== undefined);
  return {
    device: compact({
      id: input.deviceId,
      type: ua?.device.type ?? (ua ? 'desktop' : undefined),
      vendor: ua?.device.vendor,
      model: ua?.device.model,
      ...screenFacts(screen),
      geo: asObject(context?.location),
    }),
    os: compact({ name: ua?.os.name, version: ua?.os.version }),
    app: compact({
      type: ua?.browser.name ? 'browser' : undefined,
      name: ua?.browser.name,
      version: ua?.browser.version,
      language,
      userAgent,
    }),
    context: compact({ utm: utmFrom(context, page), screen, timezone, page }),
  };
}
