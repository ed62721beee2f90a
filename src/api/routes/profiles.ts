import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ApiError, notFound } from '../../shared/errors.js';
import { EventViewSchema, ProfileViewSchema, SessionViewSchema } from '../../tracking/views.js';
import { ErrorSchema, IdParams, PageQuery } from '../schemas.js';
import type { ApiServices } from '../services.js';

const EventPageSchema = Type.Object({ items: Type.Array(EventViewSchema), next: Type.Union([Type.String(), Type.Null()]) });

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

function date(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) {
    throw new ApiError(400, 'validation_failed', `${field}: not a date-time`, [{ field, message: 'expected an ISO 8601 date-time' }]);
  }
  return parsed;
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
        return readModel.events({ profileId: profile.id, ...request.query });
      },
    );

    api.get(
      '/sessions/:id',
      { schema: { tags: ['sessions'], summary: 'Get a session', params: IdParams, response: { 200: SessionViewSchema, '4xx': ErrorSchema } } },
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
        return readModel.events({ sessionId: request.params.id, ...request.query });
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
        const { type, profile, session, from, to, limit, cursor } = request.query;
        const profileId = profile === undefined ? undefined : ((await readModel.profile(profile))?.id ?? profile);
        return readModel.events({ type, profileId, sessionId: session, from: date(from, 'from'), to: date(to, 'to'), limit, cursor });
      },
    );
  };
}
