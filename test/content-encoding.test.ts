import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';

const LIMIT = 64 * 1024;

/** Decoding happens before any store is touched: the embedded one is enough. */
describe('compressed request bodies', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('pglite', { MAX_PAYLOAD_BYTES: String(LIMIT) });
  });
  afterAll(async () => {
    await api?.close();
  });

  const post = (encoding: string, body: Buffer, contentType = 'application/json') =>
    api.app.inject({
      method: 'POST',
      url: '/track',
      headers: { 'content-type': contentType, 'content-encoding': encoding },
      payload: body,
    });
  const storedOfType = async (type: string) =>
    (await api.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE type = $1', [type]))[0]!.n;

  it.each([
    ['gzip', gzipSync, 'compressed-gzip'],
    ['x-gzip', gzipSync, 'compressed-x-gzip'],
    ['deflate', deflateSync, 'compressed-deflate'],
    ['br', brotliCompressSync, 'compressed-br'],
    ['GZip', gzipSync, 'compressed-mixed-case'],
  ])('decodes a %s body and stores its events', async (encoding, compress, type) => {
    const response = await post(
      encoding,
      compress(Buffer.from(JSON.stringify({ source: { id: api.sourceId }, events: [{ type }] }))),
    );
    expect(response.statusCode).toBe(200);
    expect(await storedOfType(type)).toBe(1);
  });

  it('decodes a gzip sendBeacon body (text/plain) too', async () => {
    const body = gzipSync(
      Buffer.from(JSON.stringify({ source: { id: api.sourceId }, events: [{ type: 'compressed-beacon' }] })),
    );
    expect((await post('gzip', body, 'text/plain;charset=UTF-8')).statusCode).toBe(200);
    expect(await storedOfType('compressed-beacon')).toBe(1);
  });

  it('applies MAX_PAYLOAD_BYTES to the decoded size: a small zip bomb gets 413', async () => {
    const padding = 'x'.repeat(LIMIT);
    const bomb = gzipSync(
      Buffer.from(
        JSON.stringify({ source: { id: api.sourceId }, events: [{ type: 'bomb', properties: { padding } }] }),
      ),
    );
    expect(bomb.length).toBeLessThan(LIMIT / 10);
    const response = await post('gzip', bomb);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: 'payload_too_large', details: [{ field: 'body' }] });
    const huge = gzipSync(Buffer.alloc(32 * 1024 * 1024, ' '));
    expect(huge.length).toBeLessThan(LIMIT);
    expect((await post('gzip', huge)).statusCode).toBe(413);
    expect(await storedOfType('bomb')).toBe(0);
  });

  it('refuses an unknown encoding with 415 naming it, and bytes that do not decode with 400', async () => {
    const body = Buffer.from(JSON.stringify({ source: { id: api.sourceId }, events: [{ type: 'a' }] }));
    const unknown = await post('compress', body);
    expect(unknown.statusCode).toBe(415);
    expect(unknown.json()).toMatchObject({ error: 'unsupported_media_type', details: [{ field: 'content-encoding' }] });
    expect(unknown.json().message).toContain('compress');
    for (const [encoding, bytes] of [
      ['gzip', body],
      ['br', body],
      ['gzip', gzipSync(body).subarray(0, 20)],
    ] as const) {
      const response = await post(encoding, bytes);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_body', details: [{ field: 'content-encoding' }] });
    }
    expect((await api.app.inject({ method: 'GET', url: '/healthcheck' })).statusCode).toBe(200);
  });
});
