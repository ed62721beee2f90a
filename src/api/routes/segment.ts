/**
 * The Segment HTTP Tracking API (`/v1/track`, `/identify`, `/page`, `/screen`, `/group`, `/alias`,
 * `/batch`), public like /track, through the same collect entry; a call is answered once stored.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_BATCH_BYTES, MAX_CALL_BYTES, SEGMENT_CALL_TYPES, mapBatch, mapCall } from '../../segment-spec/segment.js';
import { storeCalls, WriteKeys } from '../../segment-spec/collector.js';
import { writeKeyOfBasic } from '../../segment-spec/write-key.js';
import { DomainError } from '../../shared/errors.js';
import { ErrorSchema } from '../schemas.js';
import type { ApiServices } from '../services.js';

const SuccessSchema = Type.Object({ success: Type.Literal(true) });

export function segmentSpecRoutes(services: ApiServices) {
  const writeKeys = new WriteKeys(services.sources, () => services.sourceCache.generation);
  const ports = {
    collect: services.tracker.collect.bind(services.tracker),
    alias: services.identity.identity.alias.bind(services.identity.identity),
  };

  /** The source of the request's write key: HTTP Basic user name, else `writeKey` in the body. */
  const sourceOf = (request: FastifyRequest) => {
    const body = request.body as { writeKey?: unknown } | undefined;
    const writeKey =
      writeKeyOfBasic(request.headers.authorization) ??
      (typeof body?.writeKey === 'string' ? body.writeKey : undefined);
    if (writeKey === undefined)
      throw new DomainError('invalid_source', 'a write key is required', [
        { field: 'writeKey', message: 'expected as the HTTP Basic user name or writeKey in the body' },
      ]);
    return writeKeys.source(writeKey);
  };

  const origin = (request: FastifyRequest) => ({
    channel: 'http' as const,
    userAgent: request.headers['user-agent'],
    language: request.headers['accept-language']?.split(',')[0],
  });

  const schema = (summary: string) => ({
    tags: ['segment'],
    summary,
    description:
      'Segment HTTP Tracking API, answered once stored. Authenticated by the write key of a `segment` event source: HTTP Basic user name (empty password) or `writeKey` in the body.',
    body: Type.Object({}, { additionalProperties: true }),
    response: { 200: SuccessSchema, '4xx': ErrorSchema },
  });

  return async (app: FastifyInstance) => {
    for (const type of SEGMENT_CALL_TYPES)
      app.post(
        `/v1/${type}`,
        { schema: schema(`Segment ${type} call`), bodyLimit: MAX_CALL_BYTES },
        async (request) => {
          const source = await sourceOf(request);
          const call = mapCall(request.body, { sourceId: source.id, type, now: new Date() });
          await storeCalls(ports, [call], origin(request), ['']);
          return { success: true as const };
        },
      );
    app.post(
      '/v1/batch',
      { schema: schema('Segment batch: up to 500 KB of calls, each up to 32 KB'), bodyLimit: MAX_BATCH_BYTES },
      async (request) => {
        const source = await sourceOf(request);
        const calls = mapBatch(request.body, { sourceId: source.id, now: new Date() });
        await storeCalls(
          ports,
          calls,
          origin(request),
          calls.map((_call, index) => `batch.${index}.`),
        );
        return { success: true as const };
      },
    );
  };
}
