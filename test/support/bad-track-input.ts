import type { Random } from './random.js';

/**
 * A seeded generator of `/track` requests: good ones, and bad ones made from a good one by one
 * mutation (a wrong type at a field of the Tracardi payload, deep nesting, NUL or an unpaired
 * surrogate in a key or value, an invalid date, a truncated body, a `__proto__`/`constructor` key,
 * an oversize body, an unknown source, a content type the API does not read). Each request says what
 * a correct API does with it, so a run can judge every answer and then the store.
 */

export const GOOD_EVENT_TYPE = 'fuzz-good';

/** What a correct API does with a request. */
export type Expected =
  /** 200 and every event stored. */
  | { kind: 'stored' }
  /** A 4xx: nothing of it stored. */
  | { kind: 'refused' }
  /** This event is refused (a 226 listing it, or a 4xx for the whole request) and never stored. */
  | { kind: 'event-refused'; index: number }
  /** Any answer below 500; whatever is acknowledged is stored. */
  | { kind: 'any' };

export interface GeneratedRequest {
  mutation: Mutation;
  /** What was done to the request, for failure messages: `wrong type at events.1.tags: 42`. */
  label: string;
  contentType: string;
  body: string;
  expected: Expected;
  /** The fields an error answer may name: one of them, a field inside one, or one they sit in. */
  fields: string[];
  /** The ids the request's events were sent with; each event also carries its id as `properties.marker`. */
  eventIds: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** What a field of the payload holds; its wrong values follow from it. */
type FieldKind =
  | 'object'
  | 'nullable-object'
  | 'id'
  | 'nullable-id'
  | 'array'
  | 'nullable-array'
  | 'event-type'
  | 'string'
  | 'time'
  | 'ignored';

const REQUEST_FIELDS: [string, FieldKind][] = [
  ['source', 'object'],
  ['source.id', 'id'],
  ['session', 'nullable-object'],
  ['session.id', 'nullable-id'],
  ['profile', 'nullable-object'],
  ['profile.id', 'nullable-id'],
  // As in Tracardi, a device, top-level properties or save flag the API cannot use is ignored (README).
  ['device', 'ignored'],
  ['device.id', 'ignored'],
  ['context', 'nullable-object'],
  ['properties', 'ignored'],
  ['events', 'array'],
  ['options', 'nullable-object'],
  ['options.saveSession', 'ignored'],
  ['options.saveEvents', 'ignored'],
  ['options.saveProfile', 'ignored'],
];

/** Fields of one event, relative to it ('' is the event itself). */
const EVENT_FIELDS: [string, FieldKind][] = [
  ['', 'object'],
  ['type', 'event-type'],
  ['id', 'id'],
  ['properties', 'nullable-object'],
  ['context', 'nullable-object'],
  ['options', 'nullable-object'],
  ['tags', 'nullable-array'],
  ['tags.0', 'string'],
  ['time', 'time'],
];

const LONG = 'x'.repeat(200);
/** Values of the wrong type for each kind; `null` only where the Tracardi format does not allow it. */
const WRONG_VALUES: Record<FieldKind, Json[]> = {
  object: ['text', 42, true, [], [{ id: 'in-an-array' }], null],
  'nullable-object': ['text', 0, false, [], [{ id: 'in-an-array' }]],
  id: [42, true, {}, [], '', LONG, null],
  'nullable-id': [42, true, { id: 'x' }, ['x'], '', LONG],
  array: [{}, { 0: 'x' }, 'text', 1, true, null],
  'nullable-array': [{}, { 0: 'x' }, 'text', 1, true],
  ignored: ['true', 1, {}, [], null, 'text', ''],
  'event-type': [1, true, null, {}, ['page-view'], '', '   ', LONG],
  string: [1, null, {}, [], LONG],
  time: [
    'hello',
    'hello 5',
    '2024-13-01T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    '-271821-04-20T00:00:00.000Z',
    '',
    1e20,
    -1e20,
    true,
    [],
  ],
};

const BAD_STRINGS = ['\u0000', 'a\u0000b', '\ud800', '\udfff', 'end\ud83d', '\udc00start'];
const BAD_DATES: Json[] = [
  'hello',
  'hello 5',
  '2024-02-30T25:61:00Z',
  '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00.000Z',
  1e20,
  -1e20,
];
const UNREAD_CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/xml',
  'multipart/form-data; boundary=x',
  'image/png',
];
const JSON_CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/plain;charset=UTF-8',
];

/** Raw JSON text goes in through placeholders: JSON.stringify cannot write `__proto__` keys or 20,000 levels. */
const rawKey = (n: number) => `__raw_key_${n}__`;
const rawValue = (n: number) => `__raw_value_${n}__`;

export interface GeneratorOptions {
  sourceId: string;
  /** The API's MAX_PAYLOAD_BYTES: oversize bodies go beyond it. */
  maxPayloadBytes: number;
}

export type Mutation = (typeof MUTATIONS)[number];

/** Returns the generator of request `n`: `mutation` chosen by the seed unless given. */
export function createBadInputGenerator(
  random: Random,
  { sourceId, maxPayloadBytes }: GeneratorOptions,
): (n: number, mutation?: Mutation) => GeneratedRequest {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  // Every field gets its turn at a wrong type whatever the seed; the value is the seed's choice.
  let nextRequestField = 0;
  let nextEventField = 0;

  return (n, mutation = pick(MUTATIONS)) => {
    const eventIds = Array.from({ length: int(1, 3) }, (_, k) => `fuzz-${n}-${k}`);
    const body = goodBody(n, eventIds, mutation === 'good');
    const raw = new Map<string, string>();
    const text = () => {
      let json = JSON.stringify(body);
      for (const [placeholder, value] of raw) json = json.replace(placeholder, () => value);
      return json;
    };
    const request = (
      label: string,
      expected: Expected,
      fields: string[],
      contentType = pick(JSON_CONTENT_TYPES),
    ): GeneratedRequest => ({
      mutation,
      label,
      contentType,
      body: text(),
      expected,
      fields,
      eventIds,
    });
    const eventIndex = int(0, eventIds.length - 1);
    const eventPath = (relative: string): Path => ['events', eventIndex, ...split(relative)];
    const eventField = (relative: string) => ['events', eventIndex, relative].filter((part) => part !== '').join('.');

    switch (mutation) {
      case 'good':
        return request('good request', { kind: 'stored' }, []);
      case 'wrong-type-request': {
        const [field, kind] = REQUEST_FIELDS[nextRequestField++ % REQUEST_FIELDS.length]!;
        const value = pick(WRONG_VALUES[kind]);
        setAt(body, split(field), value);
        return request(
          `wrong type at ${field}: ${describe(value)}`,
          kind === 'ignored' ? { kind: 'stored' } : { kind: 'refused' },
          [field],
        );
      }
      case 'wrong-type-event': {
        const [relative, kind] = EVENT_FIELDS[nextEventField++ % EVENT_FIELDS.length]!;
        const value = pick(WRONG_VALUES[kind]);
        setAt(body, eventPath(relative), value);
        const field = eventField(relative);
        return request(`wrong type at ${field}: ${describe(value)}`, { kind: 'event-refused', index: eventIndex }, [
          field,
        ]);
      }
      case 'deep': {
        const depth = pick([10, 100, 1_000, 5_000, 20_000]);
        const inEvent = random() < 0.7;
        const path: Path = inEvent ? eventPath('properties.deep') : ['context', 'deep'];
        const open = Array.from({ length: depth }, () => (random() < 0.5 ? ['{"d":', '}'] : ['[', ']']));
        raw.set(
          `"${rawValue(0)}"`,
          open.map(([o]) => o).join('') +
            '"leaf"' +
            open
              .map(([, c]) => c)
              .reverse()
              .join(''),
        );
        setAt(body, path, rawValue(0));
        const field = inEvent ? eventField('properties.deep') : 'context.deep';
        // A documented depth limit may sit anywhere up to a few thousand levels; beyond that, refuse.
        const expected = depth < 5_000 ? ANY : refusal(inEvent ? 'event' : 'request', eventIndex);
        return request(`${depth} levels deep at ${field}`, expected, [field]);
      }
      case 'bad-string': {
        const bad = pick(BAD_STRINGS);
        const [path, field, where] = pick<[Path, string, Where]>([
          [eventPath('properties.q'), eventField('properties.q'), 'event'],
          [eventPath(`properties.key${bad}`), eventField('properties'), 'event'],
          [eventPath('properties.nested.list.1'), eventField('properties.nested.list.1'), 'event'],
          [eventPath('context.page.title'), eventField('context.page.title'), 'event'],
          [eventPath('type'), eventField('type'), 'event'],
          [eventPath('id'), eventField('id'), 'event'],
          [eventPath('tags.0'), eventField('tags.0'), 'event'],
          [['context', 'page', 'title'], 'context.page.title', 'request'],
          [['context', `key${bad}`], 'context', 'request'],
          [['properties', 'q'], 'properties.q', 'unstored'],
          [['session', 'id'], 'session.id', 'request'],
          [['profile', 'id'], 'profile.id', 'request'],
          [['device', 'id'], 'device.id', 'request'],
          [['source', 'id'], 'source.id', 'request'],
        ]);
        const last = path[path.length - 1]!;
        setAt(body, path, typeof last === 'string' && last.startsWith('key') ? 'value' : `${bad}`);
        return request(`${JSON.stringify(bad)} at ${field}`, refusal(where, eventIndex), [field]);
      }
      case 'bad-date': {
        const date = pick(BAD_DATES);
        const tracardiShape = random() < 0.5;
        setAt(body, eventPath('time'), tracardiShape ? { create: date } : date);
        const field = eventField(tracardiShape ? 'time.create' : 'time');
        return request(`invalid date at ${field}: ${describe(date)}`, { kind: 'event-refused', index: eventIndex }, [
          field,
        ]);
      }
      case 'content-type':
        return request('good body', { kind: 'refused' }, ['content-type'], pick(UNREAD_CONTENT_TYPES));
      case 'truncated': {
        const whole = request('', ANY, []);
        const cut = int(0, whole.body.length - 1);
        return {
          ...whole,
          label: `body cut after ${cut} of ${whole.body.length} characters`,
          body: whole.body.slice(0, cut),
          expected: { kind: 'refused' },
          fields: ['body'],
        };
      }
      case 'prototype-key': {
        const key = pick(['__proto__', 'constructor']);
        const [path, field, where] = pick<[Path, string, Where]>([
          [[], 'body', 'request'],
          [['source'], 'source', 'request'],
          [['context'], 'context', 'request'],
          [['options'], 'options', 'request'],
          [eventPath(''), eventField(''), 'event'],
          [eventPath('properties'), eventField('properties'), 'event'],
          [eventPath('properties.nested'), eventField('properties.nested'), 'event'],
        ]);
        raw.set(
          `"${rawKey(0)}":0`,
          key === '__proto__' ? '"__proto__":{"polluted":true}' : '"constructor":{"prototype":{"polluted":true}}',
        );
        setAt(body, [...path, rawKey(0)], 0);
        return request(`${key} key in ${field}`, refusal(where, eventIndex), ['body', field]);
      }
      case 'oversize':
        setAt(body, eventPath('properties.padding'), 'x'.repeat(maxPayloadBytes + int(1, maxPayloadBytes / 4)));
        return request('body over MAX_PAYLOAD_BYTES', { kind: 'refused' }, ['body']);
      case 'unknown-source':
        setAt(body, ['source', 'id'], `unknown-source-${n}`);
        return request('unknown source id', { kind: 'refused' }, ['source.id']);
    }
  };

  /**
   * A request a correct API stores whole: a new visitor's session with 1–3 events. Tracardi's
   * `time: {create}` shape only in requests left good, so that a mutation is judged on its own.
   */
  function goodBody(n: number, eventIds: string[], tracardiTime: boolean): { [key: string]: Json } {
    const times: Json[] = [new Date(Date.UTC(2024, 0, 1 + (n % 28))).toISOString(), Date.UTC(2024, 5, 1)];
    if (tracardiTime) times.push({ create: '2024-06-01T12:00:00Z' });
    return {
      source: { id: sourceId },
      session: { id: `fuzz-session-${n}` },
      profile: null,
      device: { id: `fuzz-device-${n}` },
      context: { page: { url: `https://shop.example/${n}`, title: 'Shop' } },
      properties: {},
      events: eventIds.map((id) => ({
        type: GOOD_EVENT_TYPE,
        id,
        properties: { marker: id, q: 'shoes', price: random() * 100, nested: { list: [1, 'two', { three: 3 }] } },
        context: { page: { title: 'Shop' } },
        options: {},
        tags: ['fuzz'],
        ...(random() < 0.5 ? { time: pick(times) } : {}),
      })),
      options: { saveSession: true },
    };
  }
}

const MUTATIONS = [
  'good',
  'good',
  'good',
  'good',
  'good',
  'wrong-type-request',
  'wrong-type-request',
  'wrong-type-event',
  'wrong-type-event',
  'deep',
  'bad-string',
  'bad-string',
  'bad-date',
  'content-type',
  'truncated',
  'prototype-key',
  'oversize',
  'unknown-source',
] as const;

/**
 * Where a value sits decides what a correct API refuses: the event it is in, the whole request, or
 * nothing, for a part of the request that is never stored (the top-level `properties`).
 */
type Where = 'event' | 'request' | 'unstored';
const ANY: Expected = { kind: 'any' };

function refusal(where: Where, eventIndex: number): Expected {
  if (where === 'event') return { kind: 'event-refused', index: eventIndex };
  return where === 'request' ? { kind: 'refused' } : ANY;
}

function split(path: string): Path {
  return path === '' ? [] : path.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** Sets the value at `path`, making objects on the way where there were none (e.g. `profile: null`). */
function setAt(root: { [key: string]: Json }, path: Path, value: Json): void {
  if (path.length === 0) throw new Error('cannot replace the whole body');
  let node: Json = root;
  for (const [i, key] of path.slice(0, -1).entries()) {
    const container = node as { [key: string]: Json };
    const child: Json | undefined = container[key as string];
    if (child === null || typeof child !== 'object')
      container[key as string] = typeof path[i + 1] === 'number' ? [] : {};
    node = container[key as string]!;
  }
  (node as { [key: string]: Json })[path[path.length - 1] as string] = value;
}

function describe(value: Json): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Whether an error naming `named` points at `field`: the same field, one inside it, or one it sits in. */
export function namesField(named: string, field: string): boolean {
  return named === field || named.startsWith(`${field}.`) || field.startsWith(`${named}.`);
}
