import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { findUnstorableField } from './storable.js';
import { EXPECTED, explainSchemaError, pointerToField, schemaProblems } from '../shared/schema-errors.js';
import { parseDateTime } from '../condition/datetime.js';
import { DomainError } from '../shared/errors.js';

/** Tracardi 0.9's /track wire format. Unknown keys are accepted: trackers send more than we use. */
const Json = Type.Record(Type.String(), Type.Unknown());
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/**
 * The longest id (of a profile, session, event or source) /track takes, and imports too: ids go into
 * btree indexes, whose entries PostgreSQL caps at about 2.7 kB.
 */
export const MAX_ID_LENGTH = 128;
// PostgreSQL text cannot hold NUL: refused here, by name, rather than failing the commit.
const Id = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, pattern: '^[^\\u0000]+$' });

/** Epoch numbers up to this are seconds, larger ones milliseconds: how Tracardi (pydantic) reads them. */
const EPOCH_SECONDS_LIMIT = 2e10;
const MOMENT = 'an ISO-8601 date-time, epoch milliseconds or seconds';
const Moment = Type.Union([Type.String({ maxLength: 64 }), Type.Number(), Type.Null()], {
  [EXPECTED]: `${MOMENT}, or null`,
});

/**
 * Tracardi's `time` is `{create, insert}`: `create` when the event happened on the client (what its
 * browser tracker sends), `insert` when it was recorded. A bare date-time or number is ours, for `create`.
 */
const EventTime = Type.Union(
  [
    Type.String({ maxLength: 64 }),
    Type.Number(),
    Type.Object({ create: Type.Optional(Moment), insert: Type.Optional(Moment) }, { additionalProperties: true }),
    Type.Null(),
  ],
  { [EXPECTED]: `${MOMENT}, or {create, insert}` },
);

export const TrackedEventSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 128, pattern: '\\S' }),
    id: Type.Optional(Id),
    properties: Type.Optional(Nullable(Json)),
    context: Type.Optional(Nullable(Json)),
    /** Tracardi's event config (e.g. the tracker's `{"fire": true}`): kept as the event's `metadata.options`. */
    options: Type.Optional(Nullable(Json)),
    tags: Type.Optional(Nullable(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 }))),
    time: Type.Optional(EventTime),
  },
  { additionalProperties: true },
);
export type TrackedEvent = Static<typeof TrackedEventSchema>;

/** Accepted for Tracardi's clients, never refused, not used: Tracardi itself overwrites or ignores them. */
const Ignored = (description: string) => Type.Optional(Type.Unknown({ description }));

export const TrackPayloadSchema = Type.Object(
  {
    source: Type.Object({ id: Id }, { additionalProperties: true }),
    session: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Id)) }, { additionalProperties: true }))),
    profile: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Id)) }, { additionalProperties: true }))),
    device: Type.Optional(
      Type.Unknown({
        description: "`{id}`: the browser's device id, kept on the session; ignored (with a warning) when not an id",
      }),
    ),
    context: Type.Optional(Nullable(Json)),
    properties: Ignored('Tracardi keeps it on a session it creates for a static profile id'),
    // Each event is checked on its own (checkEvent) so one bad event does not sink the batch.
    events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }),
    options: Type.Optional(
      Nullable(
        Type.Record(Type.String(), Type.Unknown(), {
          description: '`saveSession`, `saveEvents`, `saveProfile`: read when true or false',
        }),
      ),
    ),
    metadata: Ignored('Tracardi replaces it with its own'),
    request: Ignored('Tracardi fills it from the HTTP request'),
    debug: Ignored("Tracardi's debug answer; not given"),
    profile_less: Ignored(
      "Tracardi's events without a profile: not supported, the events keep a profile (a warning says so)",
    ),
  },
  { additionalProperties: true },
);
export type TrackPayload = Static<typeof TrackPayloadSchema>;

const idChecker = TypeCompiler.Compile(Id);
const payloadChecker = TypeCompiler.Compile(TrackPayloadSchema);

/**
 * The /track envelope check, for every entry (HTTP, bridges, importers): a payload that is not a
 * Tracardi /track body is refused as a whole, naming up to ten fields and what each expects.
 */
export function checkEnvelope(payload: unknown): TrackPayload {
  if (payloadChecker.Check(payload)) return payload;
  const details = schemaProblems(payloadChecker, payload, 'body');
  throw new DomainError(
    'validation_failed',
    `invalid body: ${details.map((problem) => `${problem.field}: ${problem.message}`).join('; ')}`,
    details,
  );
}

/** What a request asks for besides its events. */
export interface RequestSettings {
  save: { session: boolean; events: boolean; profile: boolean };
  deviceId?: string;
  /** Values that were sent but could not be used: ignored, as Tracardi ignores them, and said so. */
  warnings: string[];
}

/** Reads the save flags (only when true or false, as Tracardi does), the device id and `profile_less`. */
export function requestSettings(payload: TrackPayload): RequestSettings {
  const warnings: string[] = [];
  const options = payload.options ?? {};
  const flag = (key: string): boolean => {
    const value = options[key];
    if (typeof value === 'boolean') return value;
    if (value !== undefined && value !== null) warnings.push(`options.${key} ignored: expected true or false`);
    return true;
  };
  const save = { session: flag('saveSession'), events: flag('saveEvents'), profile: flag('saveProfile') };
  const device = payload.device;
  const deviceId = device !== null && typeof device === 'object' ? (device as { id?: unknown }).id : undefined;
  if (deviceId !== undefined && deviceId !== null && !idChecker.Check(deviceId)) {
    warnings.push('device.id ignored: expected a string of 1 to 128 characters without NUL');
  }
  if (payload.profile_less === true)
    warnings.push("profile_less is not supported: the events were stored with the request's profile");
  return { save, deviceId: idChecker.Check(deviceId) ? deviceId : undefined, warnings };
}

export const TrackResponseSchema = Type.Object({
  task: Type.String(),
  ux: Type.Array(Type.Unknown()),
  response: Json,
  events: Type.Array(Type.String()),
  profile: Type.Object({ id: Type.String() }),
  session: Type.Object({ id: Type.String() }),
  errors: Type.Array(Type.Object({ index: Type.Integer(), field: Type.String(), message: Type.String() })),
  warnings: Type.Array(Type.String()),
});
export type TrackResponse = Static<typeof TrackResponseSchema>;
export type EventProblem = TrackResponse['errors'][number];

const eventChecker = TypeCompiler.Compile(TrackedEventSchema);

/** "Page View " → "page-view", as Tracardi normalises event types. */
export function normalizeEventType(type: string): string {
  return type.trim().toLowerCase().replace(/\s+/g, '-');
}

const EPOCH_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;
/** Digits past the microsecond (a nanosecond clock's) are dropped, as pydantic drops them for Tracardi. */
const SUB_MICROSECOND_DIGITS = /(\.\d{6})\d+/;

/**
 * A client's date-time (null or absent: `now`); undefined for what is not a date, or a year
 * PostgreSQL's timestamptz cannot hold as we write it.
 */
export function parseEventTime(time: string | number | null | undefined, now: Date): Date | undefined {
  if (time === undefined || time === null) return now;
  // Like pydantic, Tracardi reads digits sent as text as an epoch number.
  const epoch = typeof time === 'number' || EPOCH_TEXT.test(time) ? Number(time) : undefined;
  // ISO 8601 only, strictly (JavaScript's Date would take "hello 5" as a date); naive ones are UTC, as in Tracardi.
  const iso =
    epoch === undefined ? parseDateTime(String(time).trim().replace(SUB_MICROSECOND_DIGITS, '$1')) : undefined;
  return storableDate(
    epoch === undefined
      ? new Date(iso?.ms ?? Number.NaN)
      : new Date(Math.abs(epoch) <= EPOCH_SECONDS_LIMIT ? epoch * 1000 : epoch),
  );
}

/** The date, if PostgreSQL's timestamptz can hold it as we write it (years 1 to 9999). */
export function storableDate(date: Date): Date | undefined {
  if (Number.isNaN(date.getTime())) return undefined;
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999 ? date : undefined;
}

/** The date, if /track takes it written as ISO-8601 text: the years parseDateTime reads, 1000 to 9999. */
export function isoTextDate(date: Date): Date | undefined {
  return storableDate(date) && date.getUTCFullYear() >= 1000 ? date : undefined;
}

/** The parts of an event that are stored, so must hold only what PostgreSQL can store. */
const STORED_EVENT_FIELDS = ['id', 'type', 'properties', 'context', 'tags', 'options'] as const;

/** Where an event says when it occurred: Tracardi's `time.create`, else `time.insert`, else a bare `time`. */
function occurrence(time: TrackedEvent['time']): { value: string | number | null | undefined; field: string } {
  if (time === null || typeof time !== 'object') return { value: time, field: 'time' };
  if (time.create !== undefined && time.create !== null) return { value: time.create, field: 'time.create' };
  return { value: time.insert, field: 'time.insert' };
}

/** Checks one event of a batch; the problem names the field as `events.<index>.<path>`. */
export function checkEvent(
  event: unknown,
  index: number,
  now: Date,
): { event: TrackedEvent; time: Date } | EventProblem {
  const prefix = `events.${index}`;
  if (!eventChecker.Check(event)) {
    const first = eventChecker.Errors(event).First();
    const problem = first ? explainSchemaError(first) : { path: '', message: 'invalid event' };
    const path = pointerToField(problem.path);
    return { index, field: path ? `${prefix}.${path}` : prefix, message: problem.message };
  }
  const occurred = occurrence(event.time);
  const time = parseEventTime(occurred.value, now);
  if (!time)
    return {
      index,
      field: `${prefix}.${occurred.field}`,
      message: `expected ${MOMENT}, in the years 1000 to 9999 as text, 1 to 9999 as epoch time`,
    };
  const unstorable = findUnstorableField(event, STORED_EVENT_FIELDS, `${prefix}.`);
  if (unstorable) return { index, ...unstorable };
  return { event, time };
}
