import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { checkPoint } from '../../identity/points.js';
import { notFound } from '../../shared/errors.js';
import { ProfileViewSchema } from '../../tracking/views.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import type { ApiServices } from '../services.js';

const Path = Type.String({ minLength: 3, maxLength: 200 });

const PointBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    eventType: Type.String({ minLength: 1, maxLength: 200 }),
    sourceId: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()])),
    fields: Type.Array(Type.Object({ event: Path, profile: Path }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: 50,
    }),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const PointSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  eventType: Type.String(),
  sourceId: Type.Union([Type.String(), Type.Null()]),
  fields: Type.Array(Type.Object({ event: Type.String(), profile: Type.String() })),
  enabled: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const MergeSchema = Type.Object({
  id: Type.String(),
  survivorId: Type.String(),
  mergedIds: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('merged'), Type.Literal('refused'), Type.Literal('undone')]),
  reason: Type.Object({
    by: Type.String(),
    keys: Type.Optional(Type.Array(Type.Object({ key: Type.String(), value: Type.String() }))),
  }),
  createdAt: Type.String({ format: 'date-time' }),
  undoneAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** Identification points, merges and their undo, and finding a profile by an identity key. */
export function identityRoutes({ identity: { identity, points, pointCache }, readModel }: ApiServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['identity'];
    const input = (body: typeof PointBody.static) =>
      checkPoint({ ...body, sourceId: body.sourceId ?? null, enabled: body.enabled ?? true });

    api.get(
      '/identification-points',
      { schema: { tags, summary: 'List identification points', response: { 200: Type.Array(PointSchema) } } },
      () => points.list(),
    );

    api.post(
      '/identification-points',
      {
        schema: {
          tags,
          summary: 'Create an identification point',
          description:
            'When an event of `eventType` (from `sourceId`, if given) is collected, each `fields[].event` value is copied to the profile at `fields[].profile`, and the profile is merged with any profile holding it as an identity key.',
          body: PointBody,
          response: { 201: PointSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const created = await points.create(randomUUID(), input(request.body));
        pointCache.forget();
        return reply.status(201).send(created);
      },
    );

    api.get(
      '/identification-points/:id',
      {
        schema: {
          tags,
          summary: 'Get an identification point',
          params: IdParams,
          response: { 200: PointSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await points.get(request.params.id)) ?? Promise.reject(notFound('identification point')),
    );

    api.put(
      '/identification-points/:id',
      {
        schema: {
          tags,
          summary: 'Replace an identification point',
          params: IdParams,
          body: PointBody,
          response: { 200: PointSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const updated = await points.update(request.params.id, input(request.body));
        pointCache.forget();
        return updated ?? Promise.reject(notFound('identification point'));
      },
    );

    api.delete(
      '/identification-points/:id',
      {
        schema: {
          tags,
          summary: 'Delete an identification point',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await points.delete(request.params.id))) throw notFound('identification point');
        pointCache.forget();
        return reply.status(204).send(null);
      },
    );

    api.post(
      '/profiles/merge',
      {
        schema: {
          tags,
          summary: 'Merge profiles (ids or merged ids) into the oldest',
          description: 'Refused with 409 `merge_refused` when it would join more than MERGE_MAX_PROFILES profiles.',
          body: Type.Object(
            { ids: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 2, maxItems: 1000 }) },
            { additionalProperties: false },
          ),
          response: { 200: MergeSchema, '4xx': ErrorSchema },
        },
      },
      (request) => identity.mergeProfiles(request.body.ids),
    );

    api.post(
      '/profiles/merges/:id/undo',
      {
        schema: {
          tags,
          summary: 'Undo a merge',
          description:
            'The merged-away profiles come back as they were, with their identity keys, segment memberships and sessions; the survivor keeps what happened to it after the merge.',
          params: IdParams,
          response: { 200: MergeSchema, '4xx': ErrorSchema },
        },
      },
      (request) => identity.undo(request.params.id),
    );

    api.get(
      '/profiles/:id/merges',
      {
        schema: {
          tags,
          summary: "A profile's merges (and refused merges), newest first",
          params: IdParams,
          response: { 200: Type.Array(MergeSchema), '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const profile = await readModel.profile(request.params.id);
        return identity.history(profile ? [profile.id, ...profile.ids] : [request.params.id]);
      },
    );

    api.get(
      '/profiles',
      {
        schema: {
          tags,
          summary: 'Find the profile holding an identity key value',
          querystring: Type.Object({ key: Path, value: Type.String({ minLength: 1, maxLength: 1000 }) }),
          response: { 200: Type.Array(ProfileViewSchema), '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const id = await identity.findByKey(request.query.key, request.query.value);
        const profile = id === undefined ? undefined : await readModel.profile(id);
        return profile ? [profile] : [];
      },
    );
  };
}
