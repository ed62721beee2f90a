import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_TOKEN, type TestApi } from './support/api.js';

/** CORS is decided per route, not per store: the embedded one is enough. */
describe('CORS', () => {
  const preflight = (api: TestApi, url: string, origin: string, headers = 'content-type') =>
    api.app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });
  const adminGet = (api: TestApi, url: string, origin: string) =>
    api.app.inject({ method: 'GET', url, headers: { origin, authorization: `Bearer ${TEST_TOKEN}` } });

  describe('by default', () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi('pglite');
    });
    afterAll(async () => {
      await api?.close();
    });

    it('lets any origin call /track, /healthcheck and /openapi.json', async () => {
      const response = await preflight(api, '/track', 'https://shop.example', 'content-type,x-timestamp');
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(response.headers['access-control-allow-headers'])).toContain('x-timestamp');
      for (const url of ['/healthcheck', '/openapi.json']) {
        const get = await api.app.inject({ method: 'GET', url, headers: { origin: 'https://status.example' } });
        expect(get.statusCode).toBe(200);
        expect(get.headers['access-control-allow-origin']).toBe('https://status.example');
      }
    });

    it.each(['https://evil.example', 'null'])(
      'gives %s no access to the admin API, preflight or not',
      async (origin) => {
        for (const url of ['/event-sources', '/profiles/x', '/segments']) {
          const response = await preflight(api, url, origin, 'authorization,content-type');
          expect(response.statusCode).toBe(404);
          expect(response.headers['access-control-allow-origin']).toBeUndefined();
          expect(response.headers['access-control-allow-headers']).toBeUndefined();
        }
        const get = await adminGet(api, '/event-sources', origin);
        expect(get.statusCode).toBe(200);
        expect(get.headers['access-control-allow-origin']).toBeUndefined();
      },
    );

    it('answers a cross-origin POST with its origin, every response varying by Origin', async () => {
      const tracked = await api.app.inject({
        method: 'POST',
        url: '/track?via=beacon',
        headers: { origin: 'https://shop.example', 'content-type': 'application/json' },
        payload: { source: { id: api.sourceId }, events: [{ type: 'page-view' }] },
      });
      expect(tracked.statusCode).toBe(200);
      expect(tracked.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(tracked.headers['vary']).toBe('Origin');
      const sameOrigin = await api.app.inject({ method: 'GET', url: '/healthcheck' });
      expect(sameOrigin.headers['access-control-allow-origin']).toBeUndefined();
      expect(sameOrigin.headers['vary']).toBe('Origin');
    });

    it('answers a preflight with the methods, headers and lifetime it allows, and refuses one without a method', async () => {
      const response = await preflight(api, '/collect/anything', 'https://shop.example');
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS');
      expect(response.headers['access-control-allow-headers']).toBe('content-type, x-timestamp, authorization');
      expect(response.headers['access-control-max-age']).toBe('86400');
      expect(response.headers['content-length']).toBe('0');
      const incomplete = await api.app.inject({
        method: 'OPTIONS',
        url: '/track',
        headers: { origin: 'https://shop.example' },
      });
      expect(incomplete.statusCode).toBe(400);
      expect(incomplete.body).toBe('Invalid Preflight Request');
    });
  });

  describe('with CORS_ORIGINS and ADMIN_CORS_ORIGINS', () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi('pglite', {
        CORS_ORIGINS: 'https://shop.example',
        ADMIN_CORS_ORIGINS: 'https://console.example',
      });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('lets the named console origin call the admin API with its token', async () => {
      const response = await preflight(api, '/segments', 'https://console.example', 'authorization,content-type');
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-origin']).toBe('https://console.example');
      expect(String(response.headers['access-control-allow-headers'])).toContain('authorization');
      expect(String(response.headers['access-control-allow-methods'])).toContain('DELETE');
      expect(
        (await adminGet(api, '/event-sources', 'https://console.example')).headers['access-control-allow-origin'],
      ).toBe('https://console.example');
    });

    it('keeps each list to its routes', async () => {
      expect(
        (await preflight(api, '/segments', 'https://shop.example')).headers['access-control-allow-origin'],
      ).toBeUndefined();
      expect(
        (await preflight(api, '/track', 'https://console.example')).headers['access-control-allow-origin'],
      ).toBeUndefined();
      expect((await preflight(api, '/track', 'https://shop.example')).headers['access-control-allow-origin']).toBe(
        'https://shop.example',
      );
      expect(
        (await preflight(api, '/track?x=1', 'https://other.example')).headers['access-control-allow-origin'],
      ).toBeUndefined();
    });
  });
});
