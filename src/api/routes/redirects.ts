import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { checkRedirect } from '../../bridges/redirect.js';
import { DomainError, notFound } from '../../shared/errors.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import type { ApiServices } from '../services.js';

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  url: Type.String({ minLength: 1, maxLength: 4096, description: 'where the client is sent: an http or https URL' }),
  eventType: Type.String({ minLength: 1, maxLength: 200 }),
  sourceId: Type.String({ minLength: 1, maxLength: 128, description: 'the event source the event is tracked from' }),
  properties: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: 'the event properties; a value `payload@params.NAME` is read from the query string',
    }),
  ),
};

const RedirectSchema = Type.Object({
  id: Type.String(),
  ...Fields,
  properties: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const CreateBody = Type.Object(
  { id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })), ...Fields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(Fields, { additionalProperties: false });

/** Redirects of the redirect bridge (`GET /redirect/{id}`): Tracardi's event redirects. */
export function redirectRoutes({ redirects, sources }: ApiServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['redirects'];
    const sourceExists = async (id: string) => (await sources.get(id)) !== undefined;

    api.post(
      '/redirects',
      {
        schema: {
          tags,
          summary: 'Create a redirect',
          body: CreateBody,
          response: { 201: RedirectSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { id = randomUUID(), properties = {}, ...rest } = request.body;
        const fields = await checkRedirect({ ...rest, properties }, sourceExists);
        const created = await redirects.create({ id, ...fields });
        if (!created)
          throw new DomainError('conflict', `redirect "${id}" already exists`, [
            { field: 'id', message: 'already exists' },
          ]);
        return reply.status(201).send(created);
      },
    );

    api.get(
      '/redirects',
      { schema: { tags, summary: 'List redirects', response: { 200: Type.Array(RedirectSchema) } } },
      () => redirects.list(),
    );

    api.get(
      '/redirects/:id',
      {
        schema: {
          tags,
          summary: 'Get a redirect',
          params: IdParams,
          response: { 200: RedirectSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await redirects.get(request.params.id)) ?? Promise.reject(notFound('redirect')),
    );

    api.put(
      '/redirects/:id',
      {
        schema: {
          tags,
          summary: 'Replace a redirect',
          params: IdParams,
          body: UpdateBody,
          response: { 200: RedirectSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const { properties = {}, ...rest } = request.body;
        const fields = await checkRedirect({ ...rest, properties }, sourceExists);
        return (await redirects.update(request.params.id, fields)) ?? Promise.reject(notFound('redirect'));
      },
    );

    api.delete(
      '/redirects/:id',
      {
        schema: {
          tags,
          summary: 'Delete a redirect',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await redirects.delete(request.params.id))) throw notFound('redirect');
        return reply.status(204).send(null);
      },
    );
  };
}
