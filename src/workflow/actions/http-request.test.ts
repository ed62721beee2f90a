import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../../../test/support/flows.js';
import { fetchHttpClient } from '../fetch-http.js';

/** A real local server: each path answers one way; what it received is echoed back. */
let server: Server;
let base: string;
let flaky = 0;
const held: ServerResponse[] = [];

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const received = {
    method: request.method,
    url: request.url,
    auth: request.headers['authorization'],
    type: request.headers['content-type'],
    body: Buffer.concat(chunks).toString(),
  };
  if (request.url === '/hang') {
    held.push(response);
    return;
  }
  if (request.url === '/flaky' && flaky++ === 0) {
    response.writeHead(503).end('try again');
    return;
  }
  const status = request.url === '/missing' ? 404 : 200;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(received));
}

beforeAll(async () => {
  server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const response of held) response.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const call = (config: Record<string, unknown>) => runAction('http-request', config, { http: fetchHttpClient });

describe('http-request', () => {
  it('sends a templated GET and answers on ok with status, headers and the parsed body', async () => {
    const { outputs } = await call({
      url: `${base}/orders/{{event@properties.id}}`,
      headers: { authorization: 'Bearer {{profile@id}}' },
    });
    expect(outputs['ok']).toMatchObject({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { method: 'GET', url: '/orders/order-7', auth: 'Bearer p1', body: '' },
    });
  });

  it('sends an object template as a JSON body', async () => {
    const { outputs } = await call({
      method: 'POST',
      url: `${base}/orders`,
      body: { id: 'event@properties.id', total: 'event@properties.total' },
    });
    expect(outputs['ok']).toMatchObject({
      body: { method: 'POST', type: 'application/json', body: JSON.stringify({ id: 'order-7', total: 30 }) },
    });
  });

  it('answers a 4xx on error, with the status and body', async () => {
    const { outputs, result } = await call({ url: `${base}/missing` });
    expect(result.status).toBe('completed');
    expect(outputs['ok']).toBeUndefined();
    expect(outputs['error']).toMatchObject({ status: 404, message: `GET ${base}/missing answered 404` });
  });

  it('tries a 5xx again as many times as its retries allow', async () => {
    flaky = 0;
    const { outputs } = await call({ url: `${base}/flaky`, retries: 1 });
    expect(outputs['ok']).toMatchObject({ status: 200 });
    expect(flaky).toBe(2);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const { outputs } = await call({ url: `${base}/hang`, timeoutMs: 100 });
    expect(outputs['error']).toEqual({ message: `GET ${base}/hang gave no answer within 100 ms` });
  });

  it('refuses a URL that is not http or https once rendered', async () => {
    const { result } = await call({ url: '{{event@properties.id}}' });
    expect(result.error?.message).toBe('"order-7" is not an http or https URL');
  });

  it('answers on error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { outputs } = await call({ url: `http://127.0.0.1:${port}/`, retries: 1 });
    expect((outputs['error'] as { message: string }).message).toMatch(/failed/);
  });
});
