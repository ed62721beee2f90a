import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseDateTime } from '../../condition/index.js';
import { DomainError, notFound } from '../../shared/errors.js';
import { EventViewSchema, ProfileViewSchema, SessionViewSchema } from '../../tracking/views.js';
import { ErrorSchema, IdParams, PageQuery } from '../schemas.js';
import type { ApiServices } from '../services.js';

const EventPageSchema = Type.Object({
  items: Type.Array(EventViewSchema),
  next: Type.Union([Type.String(), Type.Null()]),
});

const EventsQuery = Type.Composite([
  PageQuery,
  Type.Object({
    type: Type.Optional(Type.String({ minLength: 1 })),
    profile: Type.Optional(Type.String({ minLength: 1 })),
    session: Type.Optional(Type.String({ minLength: 1 })),
    from: Type.Optional(Type.String({ description: 'ISO 8601 date-time' })),
    to: Type.Optional(Type.String({ description: 'ISO 8601 date-time' })),
  }),
]);

/**
 * An ISO 8601 date or date-time (years 1000 to 9999; without an offset it is UTC), as the condition
 * language reads them. `new Date` would also take "hello 5" and years PostgreSQL cannot compare.
 */
function date(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = parseDateTime(value);
  if (!parsed) {
    throw new DomainError('validation_failed', `${field}: not an ISO 8601 date-time`, [
      {
        field,
        message: 'expected an ISO 8601 date or date-time, years 1000 to 9999 (2024-05-01, 2024-05-01T10:00:00Z)',
      },
    ]);
  }
  return new Date(parsed.ms);
}

/** The largest value of the bigint that orders stored events. */
const MAX_SEQ = 2n ** 63n - 1n;
/** Occurred times are years 1 to 9999 (payload checks), here in epoch microseconds. */
const MIN_MICROS = BigInt(Date.parse('0001-01-01T00:00:00Z')) * 1000n;
const MAX_MICROS = BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * 1000n + 999n;

/**
 * A cursor is the `next` of an earlier page: `<occurred time in epoch microseconds>_<seq>` (the
 * schema's pattern), each part within what a stored event can hold, so SQL never sees an out-of-range value.
 */
function cursor(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const [micros, seq] = value.split('_').map(BigInt) as [bigint, bigint];
  if (micros < MIN_MICROS || micros > MAX_MICROS || seq > MAX_SEQ) {
    throw new DomainError('validation_failed', 'cursor: out of range', [
      { field: 'cursor', message: 'expected the `next` value of an earlier page' },
    ]);
  }
  return value;
}

/** Profiles, sessions and events as collection stored them. */
export function profileRoutes({ readModel }: ApiServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();

    api.get(
      '/profiles/:id',
      {
        schema: {
          tags: ['profiles'],
          summary: 'Get a profile by its id or the id of a profile merged into it',
          params: IdParams,
          response: { 200: ProfileViewSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await readModel.profile(request.params.id)) ?? Promise.reject(notFound('profile')),
    );

    api.delete(
      '/profiles/:id',
      {
        schema: {
          tags: ['profiles'],
          summary: 'Delete a profile with its sessions and events',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await readModel.deleteProfile(request.params.id))) throw notFound('profile');
        return reply.status(204).send(null);
      },
    );

    api.get(
      '/profiles/:id/events',
      {
        schema: {
          tags: ['profiles'],
          summary: "A profile's events, newest first",
          params: IdParams,
          querystring: PageQuery,
          response: { 200: EventPageSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const profile = await readModel.profile(request.params.id);
        if (!profile) throw notFound('profile');
        return readModel.events({
          profileIds: [profile.id, ...profile.ids],
          limit: request.query.limit,
          cursor: cursor(request.query.cursor),
        });
      },
    );

    api.get(
      '/sessions/:id',
      {
        schema: {
          tags: ['sessions'],
          summary: 'Get a session',
          params: IdParams,
          response: { 200: SessionViewSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await readModel.session(request.params.id)) ?? Promise.reject(notFound('session')),
    );

    api.get(
      '/sessions/:id/events',
      {
        schema: {
          tags: ['sessions'],
          summary: "A session's events, newest first",
          params: IdParams,
          querystring: PageQuery,
          response: { 200: EventPageSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        if (!(await readModel.session(request.params.id))) throw notFound('session');
        return readModel.events({
          sessionId: request.params.id,
          limit: request.query.limit,
          cursor: cursor(request.query.cursor),
        });
      },
    );

    api.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary: 'Search events, newest first',
          description: '`from`/`to` bound the time the event occurred (`to` exclusive); `profile` accepts merged ids.',
          querystring: EventsQuery,
          response: { 200: EventPageSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const { type, profile, session, from, to, limit } = request.query;
        const found = profile === undefined ? undefined : await readModel.profile(profile);
        const profileIds = found ? [found.id, ...found.ids] : profile === undefined ? undefined : [profile];
        return readModel.events({
          type,
          profileIds,
          sessionId: session,
          from: date(from, 'from'),
          to: date(to, 'to'),
          limit,
          cursor: cursor(request.query.cursor),
        });
      },
    );
  };
}
