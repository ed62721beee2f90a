import { Type } from '@sinclair/typebox';
import { renderStringTemplate } from '../../condition/index.js';
import type { ActionContext, HttpAnswer, HttpRequest } from '../model.js';
import { defineAction } from '../registry.js';
import { dotContext, resolveValue, ValueTemplate } from './support.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

interface HttpConfig {
  method: (typeof METHODS)[number];
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  retries: number;
}

/** An answer worth asking again for: the server failed, not the request. */
const retryable = (answer: HttpAnswer) => answer.status >= 500;

function requestOf(config: HttpConfig, context: ActionContext): HttpRequest {
  const render = (text: string) => renderStringTemplate(text, dotContext(context.run));
  const headers = Object.fromEntries(Object.entries(config.headers).map(([name, value]) => [name, render(value)]));
  const url = render(config.url);
  if (!/^https?:\/\//i.test(url)) throw new Error(`${JSON.stringify(url)} is not an http or https URL`);
  const request: HttpRequest = { method: config.method, url, headers, timeoutMs: config.timeoutMs };
  if (config.body === undefined || config.method === 'GET' || config.method === 'HEAD') return request;
  const body = resolveValue(config.body, context.run);
  if (typeof body === 'string') return { ...request, body };
  const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  return {
    ...request,
    headers: hasType ? headers : { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

export const httpRequest = defineAction<HttpConfig>({
  id: 'http-request',
  name: 'HTTP request',
  description:
    'Calls a URL (templates in the URL, headers and body). A 2xx or 3xx answer continues on `ok` as ' +
    '{status, headers, body}; other answers and failures continue on `error`. Failures and 5xx ' +
    'answers are tried again `retries` times.',
  group: 'outside',
  configSchema: Type.Object({
    method: Type.Union(
      METHODS.map((method) => Type.Literal(method)),
      { default: 'GET' },
    ),
    url: Type.String({ minLength: 1, description: 'The URL (http or https): a string template' }),
    headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Headers: string templates' }),
    body: Type.Optional(ValueTemplate('The body: an object template (sent as JSON) or a string template')),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 5000, description: 'Per attempt' }),
    retries: Type.Integer({ minimum: 0, maximum: 5, default: 0 }),
  }),
  outputs: ['ok', 'error'],
  run: async (_input, config, context) => {
    const request = requestOf(config, context);
    let failure: Record<string, unknown> = {};
    for (let attempt = 0; attempt <= config.retries; attempt++) {
      try {
        const answer = await context.http.send(request);
        if (answer.status < 400) return { ports: { ok: answer } };
        failure = { ...answer, message: `${request.method} ${request.url} answered ${answer.status}` };
        if (!retryable(answer)) break;
      } catch (error) {
        failure = { message: error instanceof Error ? error.message : String(error) };
      }
      if (context.signal.aborted) break;
    }
    return { ports: { error: failure } };
  },
});
