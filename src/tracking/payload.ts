import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { findUnstorableField } from './storable.js';

/** Tracardi 0.9's /track wire format. Unknown keys are accepted: trackers send more than we use. */
const Json = Type.Record(Type.String(), Type.Unknown());
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
// PostgreSQL text cannot hold NUL: refused here, by name, rather than failing the commit.
const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000]+$' });

export const TrackedEventSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 128, pattern: '\\S' }),
    id: Type.Optional(Id),
    properties: Type.Optional(Json),
    context: Type.Optional(Json),
    options: Type.Optional(Json),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 })),
    time: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Number()])),
  },
  { additionalProperties: true },
);
export type TrackedEvent = Static<typeof TrackedEventSchema>;

export const TrackPayloadSchema = Type.Object(
  {
    source: Type.Object({ id: Id }, { additionalProperties: true }),
    session: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Id)) }, { additionalProperties: true }))),
    profile: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Id)) }, { additionalProperties: true }))),
    device: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Nullable(Id)) }, { additionalProperties: true }))),
    context: Type.Optional(Nullable(Json)),
    properties: Type.Optional(Nullable(Json)),
    // Each event is checked on its own (checkEvent) so one bad event does not sink the batch.
    events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }),
    options: Type.Optional(
      Nullable(
        Type.Object(
          {
            saveSession: Type.Optional(Type.Boolean()),
            saveEvents: Type.Optional(Type.Boolean()),
            saveProfile: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: true },
        ),
      ),
    ),
  },
  { additionalProperties: true },
);
export type TrackPayload = Static<typeof TrackPayloadSchema>;

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

/** JSON-pointer "/properties/price" → "properties.price". */
export function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/** Undefined for what is not a date, or a year PostgreSQL's timestamptz cannot hold as we write it. */
export function parseEventTime(time: string | number | undefined, now: Date): Date | undefined {
  if (time === undefined) return now;
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return undefined;
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999 ? date : undefined;
}

/** The parts of an event that are stored, so must hold only what PostgreSQL can store. */
const STORED_EVENT_FIELDS = ['id', 'type', 'properties', 'context', 'tags', 'options'] as const;

/** Checks one event of a batch; the problem names the field as `events.<index>.<path>`. */
export function checkEvent(event: unknown, index: number, now: Date): { event: TrackedEvent; time: Date } | EventProblem {
  const prefix = `events.${index}`;
  if (!eventChecker.Check(event)) {
    const first = eventChecker.Errors(event).First();
    const path = first ? pointerToField(first.path) : '';
    return { index, field: path ? `${prefix}.${path}` : prefix, message: first?.message ?? 'invalid event' };
  }
  const time = parseEventTime(event.time, now);
  if (!time) return { index, field: `${prefix}.time`, message: 'expected an ISO 8601 date-time or epoch milliseconds (years 1 to 9999)' };
  const unstorable = findUnstorableField(event, STORED_EVENT_FIELDS, `${prefix}.`);
  if (unstorable) return { index, ...unstorable };
  return { event, time };
}
