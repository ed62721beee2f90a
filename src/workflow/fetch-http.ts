import type { HttpAnswer, HttpClient, HttpRequest } from './model.js';

async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').includes('json')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The HTTP client flows use in production: Node's fetch, each request bounded by its timeout. */
export const fetchHttpClient: HttpClient = {
  async send(request: HttpRequest): Promise<HttpAnswer> {
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
        signal: AbortSignal.timeout(request.timeoutMs),
        redirect: 'follow',
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'TimeoutError') {
        throw new Error(`${request.method} ${request.url} gave no answer within ${request.timeoutMs} ms`);
      }
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new Error(`${request.method} ${request.url} failed${cause}`);
    }
    return { status: response.status, headers: Object.fromEntries(response.headers), body: await bodyOf(response) };
  },
};
