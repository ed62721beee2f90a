/**
 * From a source row to the event it becomes: typed values by column or dot path, and ids derived
 * from (import, row key), so that reading a row again yields the same event, stored once.
 */
import { hash } from 'node:crypto';
import { daysInMonth } from '../condition/datetime.js';
import {
  isTooLongToIdentify,
  MAX_IDENTITY_VALUE_LENGTH,
  normaliseValue,
  readPath,
  type IdentityKey,
  type IdentitySettings,
} from '../identity/keys.js';
import type { FieldMapping, ImportMapping, ValueType } from './model.js';
import { MAX_ID_LENGTH, storableDate } from '../tracking/payload.js';
import { wallMillis, zonedInstant } from './time-zones.js';

/** A row as a source yields it: columns (or a JSON object) by name. */
export type SourceRow = Record<string, unknown>;

/** What a row becomes: the event and whom it belongs to. */
export interface RowEvent {
  id: string;
  /** Its type, where the mapping reads one from the row (`mapping.type`) and the row holds one. */
  type?: string;
  profileId: string;
  sessionId: string;
  /** When it occurred, where the mapping says (`mapping.time`). */
  occurredAt?: Date;
  properties: Record<string, unknown>;
  /** Where the mapping maps a context (`mapping.context`). */
  context?: Record<string, unknown>;
  /** Where the mapping maps tags (`mapping.tags`) and the row holds some. */
  tags?: string[];
}

export class RowRejected extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RowRejected';
  }
}

/** A UUID (version 8, RFC 9562's custom layout) from a SHA-256 of the parts: the same parts, the same id. */
export function derivedId(...parts: string[]): string {
  const hex = hash('sha256', parts.join('\u0000'), 'hex');
  // The version nibble is 8; the variant's two high bits are 10.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The session derived from a profile, remembered for the rows that follow: a history names each
 * person again and again, and a hash is a good share of mapping a row. Bounded: forgotten by the hundred thousand.
 */
const derivedSessions = new Map<string, Map<string, string>>();
let derivedSessionsHeld = 0;
function derivedSessionId(importId: string, profileId: string): string {
  let ofImport = derivedSessions.get(importId);
  if (ofImport === undefined) derivedSessions.set(importId, (ofImport = new Map()));
  let id = ofImport.get(profileId);
  if (id === undefined) {
    if (derivedSessionsHeld >= 100_000) {
      derivedSessions.clear();
      derivedSessions.set(importId, (ofImport = new Map()));
      derivedSessionsHeld = 0;
    }
    id = derivedId(importId, 'session', profileId);
    ofImport.set(profileId, id);
    derivedSessionsHeld++;
  }
  return id;
}

/** A column by its name, else a dot path into nested objects (JSON rows). */
function lookUp(row: SourceRow, path: string): unknown {
  if (Object.hasOwn(row, path)) return row[path];
  let value: unknown = row;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * The tokens of a date pattern, named as moment and dayjs name them, and the part of the date each
 * gives. `HH` and `hh` give the same hour, `Z` and `ZZ` the same offset: a pattern gives each part once.
 */
const PATTERN_TOKENS: Record<string, { part: string; source: string }> = {
  YYYY: { part: 'year', source: '\\d{4}' },
  MM: { part: 'month', source: '\\d{1,2}' },
  DD: { part: 'day', source: '\\d{1,2}' },
  HH: { part: 'hour', source: '\\d{1,2}' },
  hh: { part: 'hour', source: '\\d{1,2}' },
  A: { part: 'meridiem', source: '[AaPp][Mm]' },
  mm: { part: 'minute', source: '\\d{1,2}' },
  ss: { part: 'second', source: '\\d{1,2}' },
  SSS: { part: 'fraction', source: '\\d{1,9}' },
  Z: { part: 'offset', source: 'Z|[+-]\\d{2}:\\d{2}' },
  ZZ: { part: 'offset', source: 'Z|[+-]\\d{4}' },
};
// Longest first, so that ZZ is one token and not two.
const PATTERN_TOKEN = new RegExp(
  `(${Object.keys(PATTERN_TOKENS)
    .sort((a, b) => b.length - a.length)
    .join('|')})`,
);
const DATE_KEYWORDS = ['iso', 'epoch', 'epoch-ms'];

/** A date pattern as a regular expression with a group for each part, or what is wrong with it. */
function compilePattern(pattern: string): { regex: RegExp } | { problem: string } {
  const pieces = pattern.split(PATTERN_TOKEN);
  const tokens = pieces.filter((_, at) => at % 2 === 1);
  const parts = tokens.map((token) => PATTERN_TOKENS[token]!.part);
  const again = parts.findIndex((part, at) => parts.indexOf(part) !== at);
  if (!tokens.includes('YYYY')) {
    // Java's and .NET's patterns write the year and day in lower case (dd/MM/yyyy).
    const lower = /yyyy|dd/.test(pattern) ? ': the year is YYYY and the day DD, in capitals (DD/MM/YYYY)' : '';
    return { problem: `expected ${DATE_KEYWORDS.join(', ')}, or a pattern with YYYY${lower}` };
  }
  if (again >= 0) return { problem: `the ${parts[again]} is given twice (${tokens[again]})` };
  if (tokens.includes('hh') !== tokens.includes('A'))
    return { problem: 'hh (the hour from 1 to 12) and A (AM or PM) go together' };
  const source = pieces
    .map((piece, at) =>
      at % 2 === 1
        ? `(?<${PATTERN_TOKENS[piece]!.part}>${PATTERN_TOKENS[piece]!.source})`
        : piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return { regex: new RegExp(`^${source}$`) };
}

/** What is wrong with a mapping's date `format`, if anything: checked when an import is saved. */
export function dateFormatProblem(format: string): string | undefined {
  if (DATE_KEYWORDS.includes(format)) return undefined;
  const compiled = compilePattern(format);
  return 'problem' in compiled ? compiled.problem : undefined;
}

/** The minutes east of UTC an offset (`Z`, `+02:00`, `-0530`) says, or NaN beyond ±23:59. */
function offsetMinutes(offset: string): number {
  if (offset === 'Z') return 0;
  const [hours, minutes] = [Number(offset.slice(1, 3)), Number(offset.slice(-2))];
  return hours > 23 || minutes > 59 ? Number.NaN : (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** Whether a date format reads each value's offset (a pattern with Z or ZZ), so that no time zone applies to it. */
export const readsOffset = (format: string) => !DATE_KEYWORDS.includes(format) && format.includes('Z');

/** Whether a date format reads instants (epoch seconds or milliseconds), in no time zone. */
export const readsEpoch = (format: string) => format === 'epoch' || format === 'epoch-ms';

function parsePattern(text: string, pattern: string, timeZone: string | undefined): Date | undefined {
  const compiled = compilePattern(pattern);
  const groups = 'regex' in compiled ? compiled.regex.exec(text.trim())?.groups : undefined;
  if (!groups) return undefined;
  // A part the pattern leaves out is its least value; one out of its range makes no date.
  const part = (name: string, least: number, most: number) => {
    const value = groups[name] === undefined ? least : Number(groups[name]);
    return value >= least && value <= most ? value : Number.NaN;
  };
  const meridiem = groups['meridiem'];
  const hour =
    meridiem === undefined ? part('hour', 0, 23) : (part('hour', 1, 12) % 12) + (/^p/i.test(meridiem) ? 12 : 0);
  const day = part('day', 1, 31);
  // Further digits of a fraction are finer than a Date holds: dropped, as ISO parsing drops them.
  const milliseconds = Number((groups['fraction'] ?? '').slice(0, 3).padEnd(3, '0'));
  const wall =
    wallMillis(Number(groups['year']), part('month', 1, 12), day, hour, part('minute', 0, 59), part('second', 0, 59)) +
    milliseconds;
  // 2024-02-31 would roll over to March: a day its month does not have makes no date (nor a part out of its range).
  if (new Date(wall).getUTCDate() !== day) return undefined;
  const offset = groups['offset'];
  // Without an offset the time is the time zone's, else UTC's.
  if (offset === undefined) return new Date(timeZone === undefined ? wall : zonedInstant(wall, timeZone));
  return new Date(wall - offsetMinutes(offset) * 60_000);
}

/** Decimal notation only: Number() would also read `0x1F`, `0b11` and `0o7`, and a blank as 0. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number, a bigint, or text in decimal notation as a number; NaN for anything else. */
function decimal(value: unknown): number {
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
  const text = typeof value === 'string' ? value.trim() : '';
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

/** No value: absent, null, or text that is empty or only blanks (a padded CSV cell, a template of empty values). */
const isNoValue = (value: unknown) =>
  value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/** An ISO 8601 date: year, month, day, and its time's separator (T or a space) and offset where it has them. */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:([T ])\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A value as a date, read by its format; a time without an offset is in `timeZone` (UTC without one).
 * A Date (a database's time) and an epoch number are instants, in no zone.
 */
function toDate(value: unknown, format = 'iso', timeZone?: string): Date | undefined {
  if (value instanceof Date) return value;
  if (readsEpoch(format)) {
    const number = decimal(value);
    if (!Number.isFinite(number)) return undefined;
    return new Date(format === 'epoch' ? number * 1000 : number);
  }
  if (typeof value !== 'string') return undefined;
  if (format !== 'iso') return parsePattern(value, format, timeZone);
  // ISO 8601 with a date part; a naive date-time is UTC, as /track reads it, unless a time zone is given.
  const text = value.trim();
  const iso = ISO_DATE.exec(text);
  if (!iso) return undefined;
  // Date() rolls 2024-02-30 over to March 1: a day its month does not have makes no date, as in a pattern.
  const day = Number(iso[3]);
  if (day > 28 && day > daysInMonth(Number(iso[1]), Number(iso[2]))) return undefined;
  const date =
    iso[4] === undefined
      ? new Date(text)
      : new Date(`${text.slice(0, 10)}T${text.slice(11)}${iso[5] === undefined ? 'Z' : ''}`);
  if (iso[5] !== undefined || timeZone === undefined || Number.isNaN(date.getTime())) return date;
  return new Date(zonedInstant(date.getTime(), timeZone));
}
/** How much of a value a rejection's reason quotes. */
const SHOWN_CHARS = 100;

/**
 * The first `length` characters of a text, not ending between the halves of a surrogate pair (an
 * emoji): the half left alone is no character, and the store, reading rejections as JSON, would
 * refuse it and fail the run.
 */
const cutAt = (text: string, length: number) =>
  text.slice(0, /[\uD800-\uDBFF]/.test(text[length - 1] ?? '') ? length - 1 : length);

/**
 * A value as a reason quotes it, cut short: a cell may hold megabytes, and each of a run's first 1,000
 * rejections is stored and answered by GET /jobs/{id}/rejections.
 */
function shown(value: unknown): string {
  const text = JSON.stringify(value);
  if (text.length <= SHOWN_CHARS) return text;
  return `${cutAt(text, SHOWN_CHARS)}… (${text.length} characters)`;
}

/** The longest ref (`key …`, `line …`) a rejection is recorded under as it is: the key of its row, up to an id's length. */
const MAX_RECORDED_REF_LENGTH = 'key '.length + MAX_ID_LENGTH;

/**
 * A row's ref as its rejection is recorded: a database key may be kilobytes long, and the rejections
 * are keyed by ref in a btree index, which would refuse it and fail the run. A longer ref is cut,
 * with its length and a hash of it, so two keys that begin alike stay two rejections.
 */
export function recordedRef(ref: string): string {
  if (ref.length <= MAX_RECORDED_REF_LENGTH) return ref;
  return `${cutAt(ref, SHOWN_CHARS)}… (${ref.length} characters, sha256 ${hash('sha256', ref, 'hex').slice(0, 16)})`;
}

/** A value as a date; undefined for no value; throws RowRejected naming the field and the format expected. */
function coerceDate(
  value: unknown,
  format: string | undefined,
  field: string,
  timeZone: string | undefined,
): Date | undefined {
  if (isNoValue(value)) return undefined;
  const date = toDate(value, format, timeZone);
  if (date && storableDate(date)) return date;
  const got = `got ${shown(value)}`;
  if (!date || Number.isNaN(date.getTime()))
    throw new RowRejected(`${field}: expected a date (${format ?? 'iso'}), ${got}`);
  // Epoch milliseconds read as seconds land tens of thousands of years ahead.
  const unit = format === 'epoch' ? ' (epoch is seconds; epoch-ms reads milliseconds)' : '';
  throw new RowRejected(`${field}: expected a date in the years 1 to 9999, ${got}${unit}`);
}

/** A value as its type (a date's time without an offset in `timeZone`); throws RowRejected naming the field and what was expected. */
export function coerce(
  value: unknown,
  type: ValueType | undefined,
  format: string | undefined,
  field: string,
  timeZone?: string,
): unknown {
  const fail = (expected: string): never => {
    throw new RowRejected(`${field}: expected ${expected}, got ${shown(value)}`);
  };
  if (isNoValue(value)) return undefined;
  switch (type ?? 'string') {
    case 'string':
      return typeof value === 'object' && !(value instanceof Date)
        ? value
        : value instanceof Date
          ? value.toISOString()
          : String(value);
    case 'number': {
      const number = decimal(value);
      return Number.isFinite(number) ? number : fail('a number');
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = String(value).trim().toLowerCase();
      if (['true', 'yes', '1', 'y', 't'].includes(text)) return true;
      if (['false', 'no', '0', 'n', 'f'].includes(text)) return false;
      return fail('a boolean (true/false, yes/no, 1/0)');
    }
    case 'date':
      return coerceDate(value, format, field, timeZone)?.toISOString();
    case 'json': {
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return fail('JSON');
      }
    }
  }
}

const asField = (mapping: FieldMapping | string): FieldMapping =>
  typeof mapping === 'string' ? { from: mapping } : mapping;

/**
 * The mapping with the import's time zone (`options.timeZone`) given to each date it reads that names
 * none of its own: `time`, and every field of type date. Made once a run, so its plans are made once too.
 */
export function withDefaultTimeZone(mapping: ImportMapping, timeZone: string | undefined): ImportMapping {
  if (timeZone === undefined) return mapping;
  const zoned = (field: FieldMapping | string, isDate: boolean): FieldMapping | string => {
    const full = asField(field);
    return (isDate || full.type === 'date') && full.timeZone === undefined ? { ...full, timeZone } : field;
  };
  const zonedAll = (fields: Record<string, FieldMapping | string>) =>
    Object.fromEntries(Object.entries(fields).map(([path, field]) => [path, zoned(field, false)]));
  const { type, profileId, sessionId, time, properties, traits, pii } = mapping;
  return {
    ...mapping,
    ...(type === undefined ? {} : { type: zoned(type, false) }),
    ...(profileId === undefined ? {} : { profileId: zoned(profileId, false) }),
    ...(sessionId === undefined ? {} : { sessionId: zoned(sessionId, false) }),
    ...(time === undefined ? {} : { time: zoned(time, true) }),
    ...(properties === undefined ? {} : { properties: zonedAll(properties) }),
    ...(traits === undefined ? {} : { traits: zonedAll(traits) }),
    ...(pii === undefined ? {} : { pii: zonedAll(pii) }),
  };
}

const PLACEHOLDER = /\{\{\s*([^}\s][^}]*?)\s*\}\}/g;

/**
 * What is wrong with a template, if anything: checked when an import is saved. A `{{` left once the
 * placeholders are taken out is a placeholder mistyped (`{{first}`, `{{ }}`), which would be written
 * into every row as it is; so is a `}}` that closes no `{` of the text (`first}}`). A `}}` that does is
 * text: a JSON template's nested objects end so (`{"geo": {"lat": {{lat}}}}`).
 */
export function templateProblem(template: string): string | undefined {
  const rest = template.replace(PLACEHOLDER, '');
  return rest.includes('{{') || strayClosing(rest)
    ? 'a {{ or }} that is not part of a placeholder: expected {{column}} or {{dot.path}}'
    : undefined;
}

/** Whether text holds a `}}` one of whose braces closes no `{` before it. */
function strayClosing(text: string): boolean {
  let open = 0;
  for (let at = 0; at < text.length; at++)
    if (text[at] === '{') open++;
    else if (text[at] === '}') {
      if (open > 0) open--;
      else if (text[at - 1] === '}' || text[at + 1] === '}') return true;
    }
  return false;
}

/** `{{column}}` placeholders filled from the row; a missing or null value renders empty, an object as JSON. */
function render(template: string, row: SourceRow): string {
  return template.replace(PLACEHOLDER, (_, path: string) => {
    const value = lookUp(row, path);
    if (value === undefined || value === null) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value as string | number | boolean);
  });
}

/** What a field's mapping reads from a row, before its type is applied. */
const rawOf = (row: SourceRow, { from, template }: FieldMapping): unknown =>
  template !== undefined ? render(template, row) : from !== undefined ? lookUp(row, from) : undefined;

/** A field's value with its type, or undefined for none (RowRejected if the mapping requires one). */
function checkRequired<T>(
  value: T | undefined,
  { from, template, required }: FieldMapping,
  field: string,
): T | undefined {
  if (value === undefined && required)
    throw new RowRejected(`${field}: ${template !== undefined ? 'the template' : `"${from}"`} is missing or empty`);
  return value;
}

function valueOf(row: SourceRow, mapping: FieldMapping, field: string): unknown {
  return checkRequired(
    coerce(rawOf(row, mapping), mapping.type, mapping.format, field, mapping.timeZone),
    mapping,
    field,
  );
}

/** A key as data: defined where assigning would not be, so that "__proto__" neither replaces the prototype nor reaches it. */
const setOwn = <T>(node: Record<string, unknown>, key: string, value: T): T => {
  // Assigning is defining for a plain object's keys but "__proto__" (its one setter), and spares a
  // descriptor a value; not in a JSON list, whose "length" would cut or pad the list.
  if (key !== '__proto__' && Object.getPrototypeOf(node) === Object.prototype) node[key] = value;
  else Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
  return value;
};

/**
 * Sets the value at a path's parts (`a.b.c` split) in a nested object, making the objects on the way.
 * Only own keys are followed: an inherited one (`__proto__`, `constructor`) would write into a prototype
 * every object of the process shares (saving an import refuses such paths; one saved before may hold them).
 */
function setPath(target: Record<string, unknown>, parts: readonly string[], value: unknown): void {
  let node = target;
  for (let at = 0; at < parts.length - 1; at++) {
    const next = Object.hasOwn(node, parts[at]!) ? node[parts[at]!] : undefined;
    node =
      next !== null && typeof next === 'object'
        ? (next as Record<string, unknown>)
        : setOwn<Record<string, unknown>>(node, parts[at]!, {});
  }
  setOwn(node, parts.at(-1)!, value);
}

/** An id as /track takes one: text of at most MAX_ID_LENGTH characters (ids are kept in btree indexes). */
const idText = (value: unknown, field: string): string => {
  const text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? undefined : String(value);
  if (text === undefined || text.length > MAX_ID_LENGTH)
    throw new RowRejected(`${field}: expected an id of at most ${MAX_ID_LENGTH} characters`);
  return text;
};

/** A tag read from a list: text as it is, a number or boolean as its text; null is none. */
function tagOf(item: unknown, at: number): string | undefined {
  if (item === null || item === undefined) return undefined;
  if (typeof item === 'object') throw new RowRejected(`tags.${at}: expected text, got ${shown(item)}`);
  return String(item as string | number | boolean | bigint);
}

/**
 * The list a row's tags value holds: a list as it is (JSON Lines, a PostgreSQL array, a MySQL JSON
 * column), text starting with `[` as a JSON array (for tags holding commas), other text split at its commas.
 */
function tagList(value: unknown): readonly unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && !(value instanceof Date))
    throw new RowRejected(`tags: expected a list, or text holding tags, got ${shown(value)}`);
  const text = value instanceof Date ? value.toISOString() : String(value as string | number | boolean).trim();
  if (!text.startsWith('[')) return text.split(',');
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed)) return parsed;
  } catch {
    // Said below, as for a JSON value that is no array.
  }
  throw new RowRejected(`tags: expected a JSON array, or tags separated by commas, got ${shown(value)}`);
}

/**
 * A row's tags, each trimmed, empty ones and repeats left out; undefined for none. Their limits are
 * /track's, checked with the event (collect's check names a tag too long, or too many).
 */
function tagsOf(value: unknown): string[] | undefined {
  if (isNoValue(value)) return undefined;
  const tags = new Set<string>();
  tagList(value).forEach((item, at) => {
    const tag = tagOf(item, at)?.trim();
    if (tag) tags.add(tag);
  });
  return tags.size === 0 ? undefined : [...tags];
}

/** A row's event type as /track takes one (its collect check says what is wrong with the text). */
const typeText = (value: unknown): string => {
  if (value === null || typeof value === 'object') throw new RowRejected('type: expected text');
  return String(value);
};

/** What a row of a `profiles` import sets: the profile by its id, and the traits and PII it maps. */
export interface ProfileUpsert {
  /** With `key`: the id of the profile to create when no profile holds the key. */
  id: string;
  /** The identity key the row names its profile by (`mapping.identityKey`), normalised. */
  key?: IdentityKey;
  traits: Record<string, unknown>;
  pii: Record<string, unknown>;
}

/** A mapping's fields as each row applies them: split and named once per mapping, not once per row. */
type FieldPlan = { prefix: string; fields: { mapping: FieldMapping; name: string; parts: string[] }[] };
const plans = new WeakMap<Record<string, FieldMapping | string>, FieldPlan>();

function planOf(fields: Record<string, FieldMapping | string>, prefix: string): FieldPlan {
  let plan = plans.get(fields);
  if (plan?.prefix !== prefix) {
    plan = {
      prefix,
      fields: Object.entries(fields).map(([path, mapping]) => ({
        mapping: asField(mapping),
        name: `${prefix}.${path}`,
        parts: path.split('.'),
      })),
    };
    plans.set(fields, plan);
  }
  return plan;
}

function mapped(row: SourceRow, fields: Record<string, FieldMapping | string> | undefined, prefix: string) {
  const target: Record<string, unknown> = {};
  if (fields === undefined) return target;
  for (const { mapping, name, parts } of planOf(fields, prefix).fields) {
    const value = valueOf(row, mapping, name);
    if (value !== undefined) setPath(target, parts, value);
  }
  return target;
}

export function rowToProfile(
  importId: string,
  row: SourceRow,
  mapping: ImportMapping,
  identity: IdentitySettings,
): ProfileUpsert {
  const traits = mapped(row, mapping.traits, 'traits');
  const pii = mapped(row, mapping.pii, 'pii');
  const path = mapping.identityKey;
  if (path !== undefined) {
    const raw = readPath({ traits, pii }, path);
    if (isTooLongToIdentify(raw))
      throw new RowRejected(
        `${path}: longer than ${MAX_IDENTITY_VALUE_LENGTH} characters, the most an identity key holds`,
      );
    const value = normaliseValue(path, raw, identity);
    if (value === undefined) throw new RowRejected(`${path}: missing, or a value that identifies nobody`);
    return { id: derivedId(importId, 'profile', path, value), key: { key: path, value }, traits, pii };
  }
  const id = valueOf(row, asField(mapping.profileId ?? ''), 'profileId');
  if (id === undefined) throw new RowRejected('profileId: missing or empty');
  return { id: idText(id, 'profileId'), traits, pii };
}

/** An events mapping's parts as each row applies them, normalised once per mapping. */
interface EventPlan {
  type?: FieldMapping;
  profileId?: FieldMapping;
  sessionId?: FieldMapping;
  time?: FieldMapping;
  tags?: FieldMapping;
}
const eventPlans = new WeakMap<ImportMapping, EventPlan>();

function eventPlanOf(mapping: ImportMapping): EventPlan {
  let plan = eventPlans.get(mapping);
  if (!plan) {
    plan = {
      ...(mapping.type === undefined ? {} : { type: asField(mapping.type) }),
      ...(mapping.profileId === undefined ? {} : { profileId: asField(mapping.profileId) }),
      ...(mapping.sessionId === undefined ? {} : { sessionId: asField(mapping.sessionId) }),
      ...(mapping.time === undefined ? {} : { time: asField(mapping.time) }),
      ...(mapping.tags === undefined ? {} : { tags: asField(mapping.tags) }),
    };
    eventPlans.set(mapping, plan);
  }
  return plan;
}

/**
 * The event a row becomes. Rows with the same profile value share a session derived from it, and
 * the session carries them to the profile the first of them created; a row without a profile is a
 * person of its own.
 */
export function rowToEvent(importId: string, rowKey: string, row: SourceRow, mapping: ImportMapping): RowEvent {
  const plan = eventPlanOf(mapping);
  const profileValue = plan.profileId && valueOf(row, plan.profileId, 'profileId');
  const sessionValue = plan.sessionId && valueOf(row, plan.sessionId, 'sessionId');
  const profileId =
    profileValue === undefined ? derivedId(importId, 'profile', rowKey) : idText(profileValue, 'profileId');
  const sessionId =
    sessionValue === undefined ? derivedSessionId(importId, profileId) : idText(sessionValue, 'sessionId');
  const occurredAt =
    plan.time &&
    checkRequired(coerceDate(rawOf(row, plan.time), plan.time.format, 'time', plan.time.timeZone), plan.time, 'time');
  const properties = mapping.properties === undefined ? { ...row } : mapped(row, mapping.properties, 'properties');
  const type = plan.type && valueOf(row, plan.type, 'type');
  const event: RowEvent = {
    id: derivedId(importId, 'event', rowKey),
    ...(type === undefined ? {} : { type: typeText(type) }),
    profileId,
    sessionId,
    ...(occurredAt === undefined ? {} : { occurredAt }),
    properties,
  };
  // Set only where mapped: a mapping without them costs its rows nothing.
  if (mapping.context !== undefined) event.context = mapped(row, mapping.context, 'context');
  const tags = plan.tags && checkRequired(tagsOf(rawOf(row, plan.tags)), plan.tags, 'tags');
  if (tags !== undefined) event.tags = tags;
  return event;
}
