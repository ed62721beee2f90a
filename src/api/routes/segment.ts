/**
 * The Segment HTTP Tracking API (`/v1/track`, `/identify`, `/page`, `/screen`, `/group`, `/alias`,
 * `/batch`), public like /track, through the same collect entry; a call is answered once stored.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  MAX_BATCH_BYTES,
  MAX_CALL_BYTES,
  SEGMENT_CALL_TYPES,
  mapBatch,
  mapCall,
  type MappedCall,
} from '../../segment-spec/segment.js';
import { sourceOfWriteKey, writeKeyOfBasic } from '../../segment-spec/write-key.js';
import { DomainError } from '../../shared/errors.js';
import { ErrorSchema } from '../schemas.js';
import type { ApiServices } from '../services.js';

const SuccessSchema = Type.Object({ success: Type.Literal(true) });

const unknownKey = (message: string) => new DomainError('invalid_source', message, [{ field: 'writeKey', message }]);

export function segmentSpecRoutes(services: ApiServices) {
  /** The source of the request's write key: HTTP Basic user name, else `writeKey` in the body. */
  const sourceOf = async (request: FastifyRequest) => {
    const body = request.body as { writeKey?: unknown } | undefined;
    const writeKey =
      writeKeyOfBasic(request.headers.authorization) ??
      (typeof body?.writeKey === 'string' ? body.writeKey : undefined);
    if (writeKey === undefined) throw unknownKey('a write key is required (HTTP Basic user name or writeKey)');
    const source = sourceOfWriteKey(await services.sources.list(), writeKey);
    if (!source) throw unknownKey('unknown write key');
    return source;
  };

  const origin = (request: FastifyRequest) => ({
    channel: 'http' as const,
    userAgent: request.headers['user-agent'],
    language: request.headers['accept-language']?.split(',')[0],
  });

  /** Stores the calls one by one, in order: each has its own profile and session. */
  const store = async (request: FastifyRequest, calls: readonly MappedCall[]) => {
    for (const call of calls) {
      await services.tracker.collect(call.payload, origin(request), {
        staticProfileId: true,
        profileMappings: () => call.profileMappings,
      });
      if (call.merge) await services.identity.identity.alias(call.merge.previousId, call.merge.userId);
    }
  };

  const schema = (summary: string) => ({
    tags: ['segment'],
    summary,
    description:
      'Segment HTTP Tracking API. Authenticated by the write key of a `segment` event source: HTTP Basic user name (empty password) or `writeKey` in the body.',
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
          await store(request, [mapCall(request.body, { sourceId: source.id, type, now: new Date() })]);
          return { success: true as const };
        },
      );
    app.post(
      '/v1/batch',
      { schema: schema('Segment batch: up to 500 KB of calls, each up to 32 KB'), bodyLimit: MAX_BATCH_BYTES },
      async (request) => {
        const source = await sourceOf(request);
        await store(request, mapBatch(request.body, { sourceId: source.id, now: new Date() }));
        return { success: true as const };
      },
    );
  };
}
