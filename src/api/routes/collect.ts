/**
 * Tracardi's HTTP bridges, public like /track and through the same collect entry: the webhook
 * (`/collect/{eventType}/{sourceId}[/{sessionId}]`) and the redirect (`/redirect/{id}[/{sessionId}]`).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { redirectPayload } from '../../bridges/redirect.js';
import { bodyProperties, formProperties, oneEventPayload } from '../../bridges/webhook.js';
import { notFound } from '../../shared/errors.js';
import { TrackResponseSchema } from '../../tracking/payload.js';
import { ErrorSchema } from '../schemas.js';
import type { ApiServices } from '../services.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });
const WebhookParams = Type.Object({ eventType: Id, sourceId: Id, sessionId: Type.Optional(Id) });
const RedirectParams = Type.Object({ id: Id, sessionId: Type.Optional(Id) });

const queryOf = (request: FastifyRequest) => formProperties(request.url.split('?')[1] ?? '');

const originOf = (request: FastifyRequest) => ({
  channel: 'http' as const,
  userAgent: request.headers['user-agent'],
  language: request.headers['accept-language']?.split(',')[0],
});

export function collectRoutes(services: ApiServices) {
  return async (app: FastifyInstance) => {
    // Forms, for this plugin's routes only: /track takes JSON.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) =>
      done(null, formProperties(body as string)),
    );

    const webhook = async (
      request: FastifyRequest<{ Params: { eventType: string; sourceId: string; sessionId?: string } }>,
      reply: FastifyReply,
    ) => {
      const { eventType, sourceId, sessionId } = request.params;
      // GET, or a POST without a body: the query string.
      const properties = request.body === undefined ? queryOf(request) : bodyProperties(request.body);
      const result = await services.tracker.collect(
        oneEventPayload({ sourceId, eventType, sessionId, properties }),
        originOf(request),
      );
      return reply.status(result.errors.length > 0 ? 226 : 200).send(result);
    };
    const webhookSchema = (method: string) => ({
      tags: ['tracking'],
      summary: `Webhook bridge (${method}): one event of the type in the path`,
      description:
        (method === 'GET'
          ? 'The query string is the event properties. '
          : 'The JSON object or form (application/x-www-form-urlencoded) is the event properties; without a body, the query string. ') +
        'Without a session id the event is profile-less (stored without profile or session); with one, it goes to that session and its profile.',
      params: WebhookParams,
      response: { 200: TrackResponseSchema, 226: TrackResponseSchema, '4xx': ErrorSchema },
    });
    for (const url of ['/collect/:eventType/:sourceId', '/collect/:eventType/:sourceId/:sessionId']) {
      app.get(url, { schema: webhookSchema('GET') }, webhook);
      app.post(url, { schema: webhookSchema('POST') }, webhook);
    }

    const redirectSchema = {
      tags: ['tracking'],
      summary: "Redirect bridge: tracks the redirect's event, then answers 307 to its URL",
      description:
        'Without a session id the event is profile-less; with one, it goes to that session and its profile. ' +
        'The event is committed before the answer; when it cannot be, the answer is the error, not the redirect.',
      params: RedirectParams,
      response: { '4xx': ErrorSchema },
    };
    // Tracardi's links carry the session as `/s/{sessionId}`.
    for (const url of ['/redirect/:id', '/redirect/:id/:sessionId', '/redirect/:id/s/:sessionId'])
      app.get<{ Params: { id: string; sessionId?: string } }>(
        url,
        { schema: redirectSchema },
        async (request, reply) => {
          const { id, sessionId } = request.params;
          const redirect = await services.redirects.get(id);
          if (!redirect) throw notFound(`redirect "${id}"`);
          await services.tracker.collect(redirectPayload(redirect, sessionId, queryOf(request)), originOf(request));
          return reply.redirect(redirect.url, 307);
        },
      );
  };
}
