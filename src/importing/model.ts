/**
 * Import configurations: what to read (a source), which event source and type its rows become, and
 * how a row maps to an event. Tracardi's `{name, description, module, config, eventSource, eventType,
 * enabled}`, with the source's kind in place of the module.
 */
import { FORBIDDEN_KEYS } from '../condition/path.js';
import { invalidInput, type FieldProblem } from '../shared/errors.js';
import { dateFormatProblem, derivedId, readsEpoch, readsOffset, templateProblem } from './rows.js';
import { timeZoneProblem } from './time-zones.js';
import { TRACARDI_INDICES, type TracardiIndex } from './tracardi.js';

export const SOURCE_KINDS = ['csv', 'jsonl', 'mysql', 'postgres', 'tracardi'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface FileSource {
  kind: 'csv' | 'jsonl';
  /** A path readable by the process that runs the import (the worker). */
  path: string;
  /** CSV: whether the first row names the columns (otherwise they are column_1, column_2, …). */
  header?: boolean;
  delimiter?: string;
  quote?: string;
  /** Any WHATWG encoding label (utf-8, latin1, windows-1252, utf-16le…); bytes it cannot decode reject the row. */
  encoding?: string;
}

/** An NDJSON dump of one of a Tracardi installation's indices: its documents become Meridian's own. */
export interface TracardiSource {
  kind: 'tracardi';
  path: string;
  index: TracardiIndex;
  encoding?: string;
}

export interface DatabaseSource {
  kind: 'mysql' | 'postgres';
  host: string;
  port?: number;
  user: string;
  database: string;
  /** Either a table or a query (a SELECT), not both. */
  table?: string;
  query?: string;
  /** The column that orders the rows and keys them: unique, the keyset pages by it. */
  key: string;
  /** Write-only: stored encrypted, never read back through the API. */
  password?: string;
}

export type ImportSource = FileSource | TracardiSource | DatabaseSource;

export const isDatabaseSource = (source: ImportSource): source is DatabaseSource =>
  source.kind === 'mysql' || source.kind === 'postgres';

export type ValueType = 'string' | 'number' | 'boolean' | 'date' | 'json';

/** Where a value comes from: a column name (or a dot path into a JSON row), with an optional type. */
export interface FieldMapping {
  /** A column or dot path; or, instead, `template`. */
  from?: string;
  /** Text with `{{column}}` (or `{{dot.path}}`) placeholders, e.g. `{{first}} {{last}}`. */
  template?: string;
  type?: ValueType;
  /**
   * For dates: `iso` (default), `epoch`, `epoch-ms`, or a pattern of YYYY MM DD HH mm ss SSS, hh with A, and Z
   * or ZZ (docs/imports.md); without an offset a pattern's time is UTC.
   */
  format?: string;
  /**
   * For dates: the IANA time zone (`Europe/Warsaw`) of a time read without an offset (ISO text without
   * one, a pattern without Z or ZZ); absent: `options.timeZone`, else UTC.
   */
  timeZone?: string;
  /** A row without this value is rejected. */
  required?: boolean;
}

export interface ImportMapping {
  /** Target `events`: each row's event type, from a column; a row without one is an `eventType` event. */
  type?: FieldMapping | string;
  /** The person: rows with the same value share a profile (and a session, unless `sessionId` is mapped). */
  profileId?: FieldMapping | string;
  sessionId?: FieldMapping | string;
  /** When the event happened; absent: when it is imported. */
  time?: FieldMapping | string;
  /** The event's properties, by dot path (`address.city`); absent: every column as it is. */
  properties?: Record<string, FieldMapping | string>;
  /** The event's context, by dot path (`page.url`, `utm.source`); absent: none. */
  context?: Record<string, FieldMapping | string>;
  /** The event's tags: a list, or text holding a JSON array or comma-separated tags (`vip, newsletter`). */
  tags?: FieldMapping | string;
  /** Target `profiles`: what a row sets in the profile's traits and PII, by dot path. */
  traits?: Record<string, FieldMapping | string>;
  pii?: Record<string, FieldMapping | string>;
  /**
   * Target `profiles`, instead of `profileId`: an identity key path (`pii.email`); a row sets the
   * profile holding its mapped value there, or a new profile that claims it.
   */
  identityKey?: string;
}

export const TARGETS = ['events', 'profiles'] as const;
export type ImportTarget = (typeof TARGETS)[number];

export interface ImportOptions {
  /** Rows read and committed together (one checkpoint each). */
  batchSize?: number;
  /** Most rows per second this import stores, so it leaves room for /track; absent: as fast as it goes. */
  rowsPerSecond?: number;
  /** false: imported events start no workflow rule (history); segments and mappings still apply. */
  runFlows?: boolean;
  /** The time zone of every date the mapping reads that names none of its own (FieldMapping.timeZone). */
  timeZone?: string;
}

export interface ImportDraft {
  name: string;
  description?: string;
  source: ImportSource;
  /** The event source of the events it stores: required where it stores events (eventNamesNeeded). */
  eventSourceId?: string;
  /** The type of the events its rows become (those without `mapping.type`): required for target events. */
  eventType?: string;
  /** `events` (default): a row is an event; `profiles`: a row sets a profile's traits and PII, by its id. */
  target?: ImportTarget;
  mapping?: ImportMapping;
  options?: ImportOptions;
  enabled?: boolean;
}

export interface ImportConfig
  extends
    Required<Omit<ImportDraft, 'source' | 'eventSourceId' | 'eventType'>>,
    Pick<ImportDraft, 'eventSourceId' | 'eventType'> {
  id: string;
  /** Without its password. */
  source: ImportSource;
  /** Whether credentials are stored (they are never shown). */
  hasSecret: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Thousands of rows a transaction: an import pays for its commits by the batch, not by the row. */
export const DEFAULT_BATCH_SIZE = 2000;
export const MAX_BATCH_SIZE = 10_000;

const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/**
 * Which of `eventSourceId` and `eventType` an import uses: rows imported as events are events of that
 * type from that source; a Tracardi export of events keeps each event's own type, stored under that
 * source; a profiles import, and a Tracardi export of profiles or sessions, store no event.
 */
export function eventNamesNeeded({ source, target }: ImportDraft): { eventSourceId: boolean; eventType: boolean } {
  if (source.kind === 'tracardi') return { eventSourceId: source.index === 'event', eventType: false };
  const events = target !== 'profiles';
  return { eventSourceId: events, eventType: events };
}

/** Checks what the schema of the API cannot (combinations, names), naming each offending field. */
export function checkDraft(draft: ImportDraft): void {
  const problems: FieldProblem[] = [];
  const source = draft.source;
  const needed = eventNamesNeeded(draft);
  const storing = source.kind === 'tracardi' ? 'a Tracardi export of events' : 'an import of events (target events)';
  if (needed.eventSourceId && !draft.eventSourceId)
    problems.push({ field: 'eventSourceId', message: `required for ${storing}: the event source of its events` });
  if (needed.eventType && !draft.eventType)
    problems.push({
      field: 'eventType',
      message: `required for ${storing}: the type of the events its rows become (those without mapping.type)`,
    });
  if (!isDatabaseSource(source)) {
    if (!source.path) problems.push({ field: 'source.path', message: 'expected a file path' });
    if (source.kind === 'tracardi' && !TRACARDI_INDICES.includes(source.index))
      problems.push({ field: 'source.index', message: `expected one of ${TRACARDI_INDICES.join(', ')}` });
    if (source.kind !== 'tracardi')
      for (const field of ['delimiter', 'quote'] as const) {
        const value = source[field];
        if (value !== undefined && value.length !== 1)
          problems.push({ field: `source.${field}`, message: 'expected one character' });
      }
    if (source.encoding !== undefined) {
      try {
        // The CSV parser finds delimiters in the bytes: the encoding must keep ASCII as ASCII.
        if (new TextDecoder(source.encoding).encoding.startsWith('utf-16')) throw new RangeError();
      } catch {
        problems.push({ field: 'source.encoding', message: `unknown or unsupported encoding "${source.encoding}"` });
      }
    }
  } else {
    if ((source.table === undefined) === (source.query === undefined))
      problems.push({ field: 'source.table', message: 'expected either a table or a query' });
    if (source.table !== undefined && !SQL_NAME.test(source.table))
      problems.push({ field: 'source.table', message: 'expected a table name (schema.table allowed)' });
    if (!SQL_NAME.test(source.key) || source.key.includes('.'))
      problems.push({ field: 'source.key', message: 'expected a column name' });
  }
  if (draft.target === 'profiles') {
    if (source.kind === 'tracardi')
      problems.push({ field: 'target', message: 'a Tracardi export has its own targets: leave target out' });
    if ((draft.mapping?.profileId === undefined) === (draft.mapping?.identityKey === undefined))
      problems.push({
        field: 'mapping.profileId',
        message: 'the profiles target needs either profileId (the column holding the id) or identityKey',
      });
    const key = draft.mapping?.identityKey;
    if (key !== undefined && !/^(traits|pii)\.[^.]/.test(key))
      problems.push({ field: 'mapping.identityKey', message: 'expected a path into traits or pii, e.g. pii.email' });
  }
  problems.push(...unusedMappingProblems(draft));
  for (const [name, message] of Object.entries(TEXT_FIELDS)) {
    const field = draft.mapping?.[name as keyof typeof TEXT_FIELDS];
    if (typeof field === 'object' && (field.type ?? 'string') !== 'string')
      problems.push({ field: `mapping.${name}.type`, message });
  }
  const groups = {
    properties: draft.mapping?.properties,
    context: draft.mapping?.context,
    traits: draft.mapping?.traits,
    pii: draft.mapping?.pii,
  };
  const fields = Object.entries({
    type: draft.mapping?.type,
    profileId: draft.mapping?.profileId,
    sessionId: draft.mapping?.sessionId,
    time: draft.mapping?.time,
    tags: draft.mapping?.tags,
    ...Object.fromEntries(
      Object.entries(groups).flatMap(([group, targets]) =>
        Object.entries(targets ?? {}).map(([key, value]) => [`${group}.${key}`, value]),
      ),
    ),
  });
  for (const [group, targets] of Object.entries(groups)) problems.push(...targetPathProblems(group, targets ?? {}));
  for (const [name, field] of fields) {
    if (field === undefined || typeof field === 'string') continue;
    if ((field.from === undefined) === (field.template === undefined))
      problems.push({ field: `mapping.${name}`, message: 'expected either from or template' });
    const mistyped = field.template === undefined ? undefined : templateProblem(field.template);
    if (mistyped) problems.push({ field: `mapping.${name}.template`, message: mistyped });
    if (name === 'time' && (field.type ?? 'date') !== 'date')
      problems.push({
        field: 'mapping.time.type',
        message: 'the time is a date: leave type out (format epoch reads seconds, epoch-ms milliseconds)',
      });
    // The time is a date whatever its type says; other fields read their format as dates only.
    const isDate = name === 'time' || field.type === 'date';
    const format = isDate ? field.format : undefined;
    const problem = format === undefined ? undefined : dateFormatProblem(format);
    if (problem) problems.push({ field: `mapping.${name}.format`, message: problem });
    const zoneProblem = field.timeZone === undefined ? undefined : fieldTimeZoneProblem(field.timeZone, isDate, format);
    if (zoneProblem) problems.push({ field: `mapping.${name}.timeZone`, message: zoneProblem });
  }
  const batch = draft.options?.batchSize;
  if (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH_SIZE))
    problems.push({ field: 'options.batchSize', message: `expected a whole number from 1 to ${MAX_BATCH_SIZE}` });
  const timeZone = draft.options?.timeZone;
  if (timeZone !== undefined) {
    const problem =
      source.kind === 'tracardi'
        ? "a Tracardi export's times are read as Tracardi wrote them (UTC): leave options.timeZone out"
        : timeZoneProblem(timeZone);
    if (problem) problems.push({ field: 'options.timeZone', message: problem });
  }
  const rate = draft.options?.rowsPerSecond;
  // Infinity (`--rows-per-second Infinity`) would be stored as JSON null.
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate)))
    problems.push({ field: 'options.rowsPerSecond', message: 'expected a number > 0' });
  if (problems.length > 0)
    throw invalidInput(problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '), problems);
}

/** Fields read as text whatever their type would say, and why. */
const TEXT_FIELDS = {
  type: 'an event type is text: expected string, or leave it out',
  tags: 'tags are a list, or text holding a JSON array or comma-separated tags: expected string, or leave it out',
} as const;

/** What is wrong with a field's time zone: unknown, or given where no time of the field could be in it. */
function fieldTimeZoneProblem(timeZone: string, isDate: boolean, format: string | undefined): string | undefined {
  if (!isDate) return 'a time zone is for dates: give type date, or leave timeZone out';
  if (format !== undefined && readsEpoch(format))
    return 'epoch times are instants, in no time zone: leave timeZone out';
  if (format !== undefined && readsOffset(format))
    return 'the pattern reads each time with its offset (Z or ZZ): leave timeZone out, or the offset';
  return timeZoneProblem(timeZone);
}

/** The mapping fields each kind of import reads; any other would be saved and never applied. */
const EVENT_FIELDS: readonly (keyof ImportMapping)[] = [
  'type',
  'profileId',
  'sessionId',
  'time',
  'properties',
  'context',
  'tags',
];
const PROFILE_FIELDS: readonly (keyof ImportMapping)[] = ['profileId', 'identityKey', 'traits', 'pii'];

function unusedMappingProblems({ source, target, mapping = {} }: ImportDraft): FieldProblem[] {
  const [used, message] =
    source.kind === 'tracardi'
      ? [[], 'a Tracardi export is imported as it is: leave the mapping out']
      : target === 'profiles'
        ? [
            PROFILE_FIELDS,
            'is for rows imported as events (target events); a profiles import reads profileId or identityKey, traits and pii',
          ]
        : [
            EVENT_FIELDS,
            'is for rows that set profiles (target profiles); an events import reads type, profileId, sessionId, time, properties, context and tags',
          ];
  return (Object.keys(mapping) as (keyof ImportMapping)[])
    .filter((field) => mapping[field] !== undefined && !used.includes(field))
    .map((field) => ({ field: `mapping.${field}`, message }));
}

/**
 * What is wrong with the dot paths a mapping writes (`properties`, `context`, `traits`, `pii`): an empty key
 * (`a..b`), a key that would write into Object.prototype, or a path inside another mapped path whose
 * value is not a JSON object (`order` and `order.id`: one value would silently replace the other).
 */
function targetPathProblems(group: string, targets: Record<string, FieldMapping | string>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const paths = Object.keys(targets);
  for (const path of paths) {
    const field = `mapping.${group}.${path}`;
    const parts = path.split('.');
    const forbidden = parts.find((part) => FORBIDDEN_KEYS.has(part));
    if (parts.includes(''))
      problems.push({ field, message: 'expected a dot path of keys that are not empty (order.id)' });
    else if (forbidden !== undefined) problems.push({ field, message: `key "${forbidden}" is not allowed` });
    // Every path it goes inside: `a.b.c` inside a JSON `a` may still be inside a value `a.b`.
    const outer = paths.find((other) => {
      const mapping = targets[other]!;
      return path.startsWith(`${other}.`) && (typeof mapping === 'string' || mapping.type !== 'json');
    });
    if (outer !== undefined)
      problems.push({
        field,
        message: `goes inside "${outer}", which is mapped to a value of its own: map one of the two, or make "${outer}" of type json`,
      });
  }
  return problems;
}

/**
 * Refuses an import naming an event source that does not exist, as a rule naming one is refused: its
 * runs would fail on their first batch.
 */
export async function checkImportReferences(
  draft: ImportDraft,
  sources: { get(id: string): Promise<unknown> },
): Promise<void> {
  const id = draft.eventSourceId;
  if (id === undefined || (await sources.get(id)) !== undefined) return;
  const problem = { field: 'eventSourceId', message: `no event source "${id}"` };
  throw invalidInput(`${problem.field}: ${problem.message}`, [problem]);
}

/**
 * Checks that a replacement source that comes without a password may keep the one stored: only while
 * it names the same server, database and user, else whoever may edit an import could have the stored
 * password sent to a server of their choosing.
 */
export function checkKeptSecret(stored: ImportConfig, next: ImportSource): void {
  if (!stored.hasSecret || !isDatabaseSource(next) || next.password !== undefined) return;
  const connection = (source: ImportSource) =>
    isDatabaseSource(source) ? [source.kind, source.host, source.port ?? null, source.user, source.database] : [];
  if (JSON.stringify(connection(stored.source)) === JSON.stringify(connection(next))) return;
  const problem = {
    field: 'source.password',
    message:
      'expected the password again: the stored one is kept only for the same kind, host, port, user and database',
  };
  throw invalidInput(`${problem.field}: ${problem.message}`, [problem]);
}

/**
 * The id `meridian import file` saves a draft under, derived from what decides the events its rows
 * become (the file and how it is read, the event source and type, the target and mapping, the time
 * zone): the same command run again finds the same import, whose rows get the ids they got before, so
 * it stores nothing twice. The other options (batch size, throttle) are left out: they change how fast, not what.
 */
export function fileImportId(draft: ImportDraft): string {
  const { source, eventSourceId, eventType, target = 'events', mapping = {}, options = {} } = draft;
  const { timeZone } = options;
  return derivedId(
    'import file',
    JSON.stringify({
      source,
      eventSourceId,
      eventType,
      target,
      mapping,
      ...(timeZone === undefined ? {} : { timeZone }),
    }),
  );
}

/** The source with its password taken out, and the password. */
export function splitSecret(source: ImportSource): { source: ImportSource; secret: string | undefined } {
  if (!isDatabaseSource(source)) return { source, secret: undefined };
  const { password, ...rest } = source;
  return { source: rest, secret: password };
}
