import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Who may call a group of routes from a browser, and how. */
export interface CorsPolicy {
  /** true: any origin; a list: those exactly; an empty list: none. */
  origins: true | readonly string[];
  methods: readonly string[];
  allowedHeaders: readonly string[];
}

const MAX_AGE_SECONDS = '86400';

/**
 * CORS by route group, as @fastify/cors answers it with a per-request options delegator (every
 * response varies by Origin; an allowed origin is echoed; a preflight is answered 204 with the
 * group's methods and headers, 400 without Origin or a requested method, and falls through to 404
 * where the group allows no origin at all) without building and merging its options on every request.
 */
export function corsHook(policyFor: (path: string) => CorsPolicy) {
  const headersOf = new Map<CorsPolicy, { methods: string; allowedHeaders: string }>();
  const preflightHeaders = (policy: CorsPolicy) => {
    let headers = headersOf.get(policy);
    if (!headers) {
      headers = { methods: policy.methods.join(', '), allowedHeaders: policy.allowedHeaders.join(', ') };
      headersOf.set(policy, headers);
    }
    return headers;
  };
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const url = request.url;
    const query = url.indexOf('?');
    const policy = policyFor(query === -1 ? url : url.slice(0, query));
    reply.header('vary', 'Origin');
    if (policy.origins !== true && policy.origins.length === 0) return done();
    const origin = request.headers.origin;
    if (origin !== undefined && (policy.origins === true || policy.origins.includes(origin)))
      reply.header('access-control-allow-origin', origin);
    if (request.method !== 'OPTIONS') return done();
    if (!origin || !request.headers['access-control-request-method']) {
      void reply.code(400).type('text/plain').send('Invalid Preflight Request');
      return;
    }
    const { methods, allowedHeaders } = preflightHeaders(policy);
    void reply
      .header('access-control-allow-methods', methods)
      .header('access-control-allow-headers', allowedHeaders)
      .header('access-control-max-age', MAX_AGE_SECONDS)
      .code(204)
      .header('content-length', '0')
      .send();
  };
}
