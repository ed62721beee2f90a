import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DomainError, notFound } from '../../shared/errors.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import type { ApiServices } from '../services.js';

const EventSourceSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2000 });
const CreateBody = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })),
    name: Name,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description), enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

export function eventSourceRoutes({ sources, sourceCache }: ApiServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['event sources'];

    api.post(
      '/event-sources',
      {
        schema: {
          tags,
          summary: 'Create an event source',
          body: CreateBody,
          response: { 201: EventSourceSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { id = randomUUID(), name, description = '', enabled = true } = request.body;
        const created = await sources.create({ id, name, description, enabled });
        if (!created)
          throw new DomainError('conflict', `event source "${id}" already exists`, [
            { field: 'id', message: 'already exists' },
          ]);
        sourceCache.forget(id);
        return reply.status(201).send(created);
      },
    );

    api.get(
      '/event-sources',
      { schema: { tags, summary: 'List event sources', response: { 200: Type.Array(EventSourceSchema) } } },
      () => sources.list(),
    );

    api.get(
      '/event-sources/:id',
      {
        schema: {
          tags,
          summary: 'Get an event source',
          params: IdParams,
          response: { 200: EventSourceSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await sources.get(request.params.id)) ?? Promise.reject(notFound('event source')),
    );

    api.put(
      '/event-sources/:id',
      {
        schema: {
          tags,
          summary: 'Change an event source (disable it to stop /track accepting it)',
          params: IdParams,
          body: UpdateBody,
          response: { 200: EventSourceSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const current = await sources.get(request.params.id);
        if (!current) throw notFound('event source');
        const updated = await sources.update(current.id, { ...current, ...request.body });
        sourceCache.forget(current.id);
        return updated ?? Promise.reject(notFound('event source'));
      },
    );

    api.delete(
      '/event-sources/:id',
      {
        schema: {
          tags,
          summary: 'Delete an event source',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await sources.delete(request.params.id))) throw notFound('event source');
        sourceCache.forget(request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
