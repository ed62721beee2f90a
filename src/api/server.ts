import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../shared/logger.js';
import { bearerAuth } from './auth.js';
import { corsHook, type CorsPolicy } from './cors.js';
import { decodeBody } from './content-encoding.js';
import { errorHandler } from './error-handler.js';
import { collectRoutes } from './routes/collect.js';
import { eventSourceRoutes } from './routes/event-sources.js';
import { identityRoutes } from './routes/identity.js';
import { redirectRoutes } from './routes/redirects.js';
import { profileRoutes } from './routes/profiles.js';
import { importRoutes } from './routes/imports.js';
import { jobRoutes } from './routes/jobs.js';
import { deployRoutes } from './routes/deploy.js';
import { mappingRoutes } from './routes/mappings.js';
import { scheduledRoutes } from './routes/scheduled.js';
import { segmentRoutes } from './routes/segments.js';
import { segmentSpecRoutes } from './routes/segment.js';
import { tqlRoutes } from './routes/tql.js';
import { trackRoutes } from './routes/track.js';
import { triggerRoutes } from './routes/trigger.js';
import { workflowRoutes } from './routes/workflow.js';
import type { ApiServices } from './services.js';
import { validatorCompiler } from './validation.js';
import { DomainError } from '../shared/errors.js';
import { publishDefaultedParameters, publishOptionalBodies } from './schemas.js';

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  storage: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
  queue: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
  bridges: Type.Array(
    Type.Object({
      kind: Type.String(),
      sourceId: Type.String(),
      host: Type.String(),
      pid: Type.Integer(),
      state: Type.String({ description: '`connecting`, `connected` or `disconnected` (reconnecting)' }),
      stale: Type.Boolean({ description: 'its process has not published for three intervals: probably gone' }),
      received: Type.Integer(),
      stored: Type.Integer(),
      deadLettered: Type.Integer(),
      retried: Type.Integer(),
      rate: Type.Number({ description: 'messages settled per second over the last interval' }),
      lastError: Type.Union([Type.String(), Type.Null()]),
      lastErrorAt: Type.Union([Type.String(), Type.Null()]),
      startedAt: Type.String(),
      heartbeatAt: Type.String(),
    }),
    { description: 'the bridges of every process, as each last published (`meridian bridge status`)' },
  ),
});

async function probe(check: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await check();
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The routes any page may call (trackers, webhooks, uptime probes, API explorers); the rest is the admin API. */
const PUBLIC_PATHS = new Set(['/track', '/healthcheck', '/openapi.json']);
const PUBLIC_PREFIXES = ['/collect/', '/redirect/', '/v1/'];
const isPublic = (path: string) => PUBLIC_PATHS.has(path) || PUBLIC_PREFIXES.some((prefix) => path.startsWith(prefix));

/**
 * CORS by route: the public routes follow CORS_ORIGINS; the admin API, which takes the operator's
 * bearer token, answers other origins only when ADMIN_CORS_ORIGINS names them.
 */
function corsFor(config: ApiServices['config']): (path: string) => CorsPolicy {
  const publicCors: CorsPolicy = {
    origins: config.corsOrigins,
    methods: ['GET', 'POST', 'OPTIONS'],
    // Browser SDKs of the Segment spec (RudderStack's) send the write key as HTTP Basic.
    allowedHeaders: ['content-type', 'x-timestamp', 'authorization'],
  };
  const adminCors: CorsPolicy = {
    origins: config.adminCorsOrigins,
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization'],
  };
  return (path) => (isPublic(path) ? publicCors : adminCors);
}

export async function buildServer(services: ApiServices, logger: Logger | false): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger ? (logger as FastifyBaseLogger) : undefined,
    bodyLimit: services.config.maxPayloadBytes,
    // Per-request log lines would cost the hot path more than they tell; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    errorHandler(
      new DomainError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
      request,
      reply,
    ),
  );
  app.addHook('preParsing', async (request, _reply, payload) =>
    decodeBody(request.headers['content-encoding'], payload, services.config.maxPayloadBytes),
  );
  // navigator.sendBeacon posts the tracker's JSON as text/plain: it goes through the very parser
  // application/json does, with the same refusal of __proto__ and constructor.prototype keys.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.addHook('onRequest', corsHook(corsFor(services.config)));
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Meridian API',
        version: '0.1.0',
        description: 'Tracking and admin API of the Meridian customer data platform.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transformObject: (document) =>
      publishDefaultedParameters(
        publishOptionalBodies('openapiObject' in document ? document.openapiObject : document.swaggerObject),
      ),
  });

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  app.get(
    '/healthcheck',
    {
      schema: {
        tags: ['system'],
        summary: 'Storage and queue reachability, and the bridges of every process',
        description: 'A bridge that is down is reported, but leaves `status` as storage and queue make it.',
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (_request, reply) => {
      const [storage, queue, bridges] = await Promise.all([
        probe(services.health.storage),
        probe(services.health.queue),
        // Unreadable when the store is down, which `storage` already says.
        services.health.bridges().catch(() => []),
      ]);
      const ok = storage.ok && queue.ok;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', storage, queue, bridges });
    },
  );
  await app.register(trackRoutes(services));
  await app.register(collectRoutes(services));
  await app.register(segmentSpecRoutes(services));

  await app.register(async (admin) => {
    admin.addHook('onRequest', bearerAuth(services.config.apiToken));
    admin.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ bearer: [] }] };
    });
    await admin.register(eventSourceRoutes(services));
    await admin.register(redirectRoutes(services));
    await admin.register(profileRoutes(services));
    await admin.register(identityRoutes(services));
    await admin.register(segmentRoutes(services));
    await admin.register(mappingRoutes(services.mapping));
    await admin.register(importRoutes(services.importing));
    await admin.register(jobRoutes(services.mapping, services.importing));
    await admin.register(deployRoutes(services));
    await admin.register(tqlRoutes);
    await admin.register(triggerRoutes(services.triggers, services.config.segmentChangesRetentionDays));
    await admin.register(scheduledRoutes(services.scheduler));
    await admin.register(workflowRoutes(services.workflow));
  });
  return app;
}
