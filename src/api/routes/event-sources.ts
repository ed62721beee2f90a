import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  checkBridgeConfig,
  isBridgeType,
  maskConfig,
  SOURCE_TYPES,
  unmaskConfig,
} from '../../bridges/source-config.js';
import { segmentSourceConfig } from '../../segment-spec/write-key.js';
import { DomainError, notFound } from '../../shared/errors.js';
import type { EventSource, EventSourceFields } from '../../tracking/ports.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import type { ApiServices } from '../services.js';

const EventSourceSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  type: Type.String({
    description: '`rest` (named by /track), `segment` (found by `config.writeKey`) or a broker a bridge consumes',
  }),
  config: Type.Record(Type.String(), Type.Unknown(), { description: "the bridge's settings; a URL's password masked" }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2000 });
const SourceType = Type.Union(
  SOURCE_TYPES.map((type) => Type.Literal(type)),
  { description: 'a broker kind is served by `meridian bridge KIND` (README, Bridges)' },
);
const Config = Type.Record(Type.String(), Type.Unknown(), {
  description:
    'for a broker kind: url, queue | topic | subject + stream | stream + group, prefetch, batchSize, format, …',
});
const CreateBody = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })),
    name: Name,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    type: Type.Optional(SourceType),
    config: Type.Optional(Config),
  },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
    type: Type.Optional(SourceType),
    config: Type.Optional(Config),
  },
  { additionalProperties: false },
);

/**
 * A broker source's config is checked as its bridge will read it, a `segment` source's write key as
 * the Segment routes read it (one is made when absent); a `rest` source takes none.
 */
function checkConfig(id: string, fields: EventSourceFields): EventSourceFields {
  if (isBridgeType(fields.type)) checkBridgeConfig(fields.type, id, fields.config);
  else if (fields.type === 'segment') return { ...fields, config: segmentSourceConfig(fields.config) };
  else if (Object.keys(fields.config).length > 0)
    throw new DomainError('validation_failed', `config: a ${fields.type} source takes no config`, [
      { field: 'config', message: `a ${fields.type} source takes no config` },
    ]);
  return fields;
}

/** Credentials in a broker URL are never returned. */
const shown = (source: EventSource): EventSource => ({ ...source, config: maskConfig(source.config) });

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
        const { id = randomUUID(), name, description = '', enabled = true, type = 'rest', config = {} } = request.body;
        const fields = checkConfig(id, { name, description, enabled, type, config });
        const created = await sources.create({ id, ...fields });
        if (!created)
          throw new DomainError('conflict', `event source "${id}" already exists`, [
            { field: 'id', message: 'already exists' },
          ]);
        sourceCache.forget(id);
        return reply.status(201).send(shown(created));
      },
    );

    api.get(
      '/event-sources',
      { schema: { tags, summary: 'List event sources', response: { 200: Type.Array(EventSourceSchema) } } },
      async () => (await sources.list()).map(shown),
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
      async (request) => {
        const source = await sources.get(request.params.id);
        return source ? shown(source) : Promise.reject(notFound('event source'));
      },
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
        const { config, ...changes } = request.body;
        const fields = checkConfig(current.id, {
          ...current,
          ...changes,
          config: config === undefined ? current.config : unmaskConfig(config, current.config),
        });
        const updated = await sources.update(current.id, fields);
        sourceCache.forget(current.id);
        return updated ? shown(updated) : Promise.reject(notFound('event source'));
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
