import type { FastifyInstance } from 'fastify';
import { TrackPayloadSchema, TrackResponseSchema } from '../../tracking/payload.js';
import { ErrorSchema } from '../schemas.js';
import type { ApiServices } from '../services.js';

export function trackRoutes(services: ApiServices) {
  return async (app: FastifyInstance) => {
    app.post(
      '/track',
      {
        schema: {
          tags: ['tracking'],
          summary: 'Collect events (Tracardi 0.9 wire format)',
          description:
            'Stores the events with their profile and session and answers once they are durably committed. ' +
            'HTTP 226 when some events were rejected: they are listed in `errors` with their index, the others are stored.',
          body: TrackPayloadSchema,
          response: { 200: TrackResponseSchema, 226: TrackResponseSchema, '4xx': ErrorSchema },
        },
        // The body schema is here for the OpenAPI document; collect checks the payload, as for every entry.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const result = await services.tracker.collect(request.body, {
          channel: 'http',
          userAgent: request.headers['user-agent'],
          language: request.headers['accept-language']?.split(',')[0],
        });
        return reply.status(result.errors.length > 0 ? 226 : 200).send(result);
      },
    );
  };
}
