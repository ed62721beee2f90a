import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { parseBackfillRange } from '../../mapping/backfill.js';
import { MAPPING_KINDS, PROFILE_OPS, parseMappingInput } from '../../mapping/mapping.js';
import type { MappingServices } from '../../mapping/ports.js';
import { DomainError, notFound } from '../../shared/errors.js';
import { bodyOrEmpty, ErrorSchema, IdParams, OPTIONAL_BODY } from '../schemas.js';
import { jobRunView, JobRunSchema } from './jobs.js';

const Path = Type.String({ minLength: 1, maxLength: 500 });
const ProfileCopySchema = Type.Object(
  {
    event: Type.Optional(Path),
    profile: Path,
    op: Type.Optional(
      Type.Union(
        PROFILE_OPS.map((op) => Type.Literal(op)),
        { description: 'equals when absent' },
      ),
    ),
  },
  { additionalProperties: false },
);
const Rules = Type.Union([
  Type.Record(Type.String({ minLength: 1, maxLength: 500 }), Path, {
    description: 'event-props-to-traits: {"properties.price": "traits.price"}',
    maxProperties: 100,
  }),
  Type.Array(ProfileCopySchema, { description: 'event-to-profile: [{event, profile, op}]', maxItems: 100 }),
]);
const Kind = Type.Union(MAPPING_KINDS.map((kind) => Type.Literal(kind)));

const MappingSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Kind,
  eventType: Type.String(),
  mapping: Rules,
  condition: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  kind: Kind,
  eventType: Type.String({ minLength: 1, maxLength: 128 }),
  mapping: Rules,
  condition: Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Null()])),
  enabled: Type.Optional(Type.Boolean()),
};
const CreateBody = Type.Object(
  { id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' })), ...Fields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(Fields, { additionalProperties: false });
const BackfillBody = Type.Object(
  {
    from: Type.Optional(Type.String({ description: 'ISO 8601 date-time: events that occurred at or after it' })),
    to: Type.Optional(Type.String({ description: 'ISO 8601 date-time: events that occurred before it' })),
  },
  { additionalProperties: false },
);

export function mappingRoutes({ mappings, mappingCache, backfill, jobRuns }: MappingServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['mappings'];

    api.post(
      '/mappings',
      {
        schema: {
          tags,
          summary: 'Create a mapping; it applies to events collected from now on (backfill for stored ones)',
          body: CreateBody,
          response: { 201: MappingSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { id = randomUUID(), ...body } = request.body;
        const created = await mappings.create({ id, ...parseMappingInput(body) });
        if (!created)
          throw new DomainError('conflict', `mapping "${id}" already exists`, [
            { field: 'id', message: 'already exists' },
          ]);
        mappingCache.forget();
        return reply.status(201).send(created);
      },
    );

    api.get(
      '/mappings',
      { schema: { tags, summary: 'List mappings', response: { 200: Type.Array(MappingSchema) } } },
      () => mappings.list(),
    );

    api.get(
      '/mappings/:id',
      {
        schema: {
          tags,
          summary: 'Get a mapping',
          params: IdParams,
          response: { 200: MappingSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await mappings.get(request.params.id)) ?? Promise.reject(notFound('mapping')),
    );

    api.put(
      '/mappings/:id',
      {
        schema: {
          tags,
          summary: 'Replace a mapping; running backfills use the new version for their remaining batches',
          params: IdParams,
          body: UpdateBody,
          response: { 200: MappingSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const input = parseMappingInput(request.body);
        const updated = await mappings.update(request.params.id, input);
        if (!updated) throw notFound('mapping');
        mappingCache.forget();
        return updated;
      },
    );

    api.delete(
      '/mappings/:id',
      {
        schema: {
          tags,
          summary: 'Delete a mapping',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await mappings.delete(request.params.id))) throw notFound('mapping');
        mappingCache.forget();
        return reply.status(204).send(null);
      },
    );

    api.post(
      '/mappings/:id/backfill',
      {
        schema: {
          tags,
          summary: 'Apply a mapping to stored events in the background; follow it at GET /jobs/{id}',
          params: IdParams,
          body: BackfillBody,
          response: { 202: JobRunSchema, '4xx': ErrorSchema },
          // No body at all means the whole history.
          [OPTIONAL_BODY]: true,
        },
        preValidation: bodyOrEmpty,
      },
      async (request, reply) => {
        const runId = await backfill(request.params.id, parseBackfillRange(request.body));
        return reply.status(202).send(jobRunView((await jobRuns.get(runId))!));
      },
    );
  };
}
