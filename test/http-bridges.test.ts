/**
 * Tracardi's HTTP bridges on the collect entry: the webhook (`/collect/{type}/{source}[/{session}]`,
 * JSON, form or query string) and the redirect (`/redirect/{id}[/{session}]`, configured through
 * `/redirects`). Public routes; PGlite in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';

interface StoredEvent {
  id: string;
  type: string;
  profile: { id: string } | null;
  session: { id: string } | null;
  properties: Record<string, unknown>;
}

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi('pglite');
});
afterAll(async () => {
  await api?.close();
});

const eventsOf = async (type: string): Promise<StoredEvent[]> => {
  const response = await api.admin({ method: 'GET', url: `/events?type=${type}&limit=500` });
  expect(response.statusCode).toBe(200);
  return (response.json() as { items: StoredEvent[] }).items;
};

describe('webhook bridge', () => {
  it('stores a JSON body without a session as a profile-less event', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: `/collect/Order Paid/${api.sourceId}`,
      payload: { order: 'A-1', total: 12.5 },
    });
    expect(response.statusCode).toBe(200);
    const [event] = await eventsOf('order-paid');
    expect(event).toMatchObject({ properties: { order: 'A-1', total: 12.5 }, profile: null, session: null });
    const profile = (response.json() as { profile: { id: string } }).profile.id;
    expect((await api.admin({ method: 'GET', url: `/profiles/${profile}` })).statusCode).toBe(404);
  });

  it("takes a form or a query string, and with a session id goes to that session's profile", async () => {
    const session = `webhook-session-${Date.now()}`;
    const form = await api.app.inject({
      method: 'POST',
      url: `/collect/form-sent/${api.sourceId}/${session}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=a%40example.com&tag=x&tag=y&__proto__=kept',
    });
    expect(form.statusCode).toBe(200);
    const query = await api.app.inject({
      method: 'GET',
      url: `/collect/link-opened/${api.sourceId}/${session}?c=spring`,
    });
    expect(query.statusCode).toBe(200);
    const empty = await api.app.inject({ method: 'POST', url: `/collect/ping/${api.sourceId}/${session}?n=1` });
    expect(empty.statusCode).toBe(200);
    expect((await eventsOf('ping'))[0]?.properties).toEqual({ n: '1' });
    const [sent] = await eventsOf('form-sent');
    const [opened] = await eventsOf('link-opened');
    expect(sent!.properties).toEqual({ email: 'a@example.com', tag: ['x', 'y'], ['__proto__']: 'kept' });
    expect(opened!.properties).toEqual({ c: 'spring' });
    expect(sent!.session?.id).toBe(session);
    expect(opened!.session?.id).toBe(session);
    expect(sent!.profile?.id).toBeDefined();
    expect(opened!.profile?.id).toBe(sent!.profile?.id);
    const profile = await api.admin({ method: 'GET', url: `/profiles/${sent!.profile!.id}` });
    expect(profile.statusCode).toBe(200);
  });

  it('answers refusals as JSON naming the field', async () => {
    const unknown = await api.app.inject({ method: 'POST', url: '/collect/x/no-such-source', payload: { a: 1 } });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toMatchObject({ error: 'invalid_source', details: [{ field: 'source.id' }] });
    const list = await api.app.inject({ method: 'POST', url: `/collect/x/${api.sourceId}`, payload: [1, 2] });
    expect(list.statusCode).toBe(400);
    expect(list.json()).toMatchObject({ error: 'validation_failed', details: [{ field: 'body' }] });
  });
});

it('lets any page call the HTTP bridges (CORS as /track), but not the redirects admin API', async () => {
  const preflight = (url: string) =>
    api.app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
  expect((await preflight(`/collect/x/${api.sourceId}`)).headers['access-control-allow-origin']).toBe(
    'https://shop.example',
  );
  expect((await preflight('/redirect/r')).headers['access-control-allow-origin']).toBe('https://shop.example');
  expect((await preflight('/redirects')).headers['access-control-allow-origin']).toBeUndefined();
});

it('describes the HTTP bridges in the OpenAPI document', async () => {
  const paths = Object.keys((await api.app.inject({ method: 'GET', url: '/openapi.json' })).json().paths as object);
  expect(paths).toEqual(
    expect.arrayContaining([
      '/collect/{eventType}/{sourceId}',
      '/collect/{eventType}/{sourceId}/{sessionId}',
      '/redirect/{id}',
      '/redirects',
      '/redirects/{id}',
    ]),
  );
});

describe('redirect bridge', () => {
  const create = (payload: Record<string, unknown>) => api.admin({ method: 'POST', url: '/redirects', payload });

  it('is configured through the admin API, which names a bad field', async () => {
    expect((await api.app.inject({ method: 'GET', url: '/redirects' })).statusCode).toBe(401);
    const bad = await create({ name: 'r', url: 'javascript:alert(1)', eventType: 'e', sourceId: 'nope' });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { details: { field: string }[] }).details.map((detail) => detail.field)).toEqual([
      'url',
      'sourceId',
    ]);
    const made = await create({
      id: 'crud',
      name: 'r',
      url: 'https://example.com/',
      eventType: 'E',
      sourceId: api.sourceId,
    });
    expect(made.statusCode).toBe(201);
    expect(made.json()).toMatchObject({ eventType: 'e', properties: {} });
    expect(
      (await create({ id: 'crud', name: 'r', url: 'https://example.com/', eventType: 'e', sourceId: api.sourceId }))
        .statusCode,
    ).toBe(409);
    const changed = await api.admin({
      method: 'PUT',
      url: '/redirects/crud',
      payload: { name: 'r2', url: 'https://example.org/', eventType: 'e', sourceId: api.sourceId },
    });
    expect(changed.json()).toMatchObject({ name: 'r2', url: 'https://example.org/' });
    expect((await api.admin({ method: 'DELETE', url: '/redirects/crud' })).statusCode).toBe(204);
    expect((await api.admin({ method: 'GET', url: '/redirects/crud' })).statusCode).toBe(404);
  });

  it('tracks the event, then answers 307 to the URL', async () => {
    const made = await create({
      id: 'spring-mail',
      name: 'spring mail',
      url: 'https://shop.example/spring?from=mail',
      eventType: 'mail-click',
      sourceId: api.sourceId,
      properties: { campaign: 'payload@params.c', channel: 'email', missing: 'payload@params.nope' },
    });
    expect(made.statusCode).toBe(201);
    const anonymous = await api.app.inject({ method: 'GET', url: '/redirect/spring-mail?c=spring' });
    expect(anonymous.statusCode).toBe(307);
    expect(anonymous.headers.location).toBe('https://shop.example/spring?from=mail');
    const session = `redirect-session-${Date.now()}`;
    const known = await api.app.inject({ method: 'GET', url: `/redirect/spring-mail/s/${session}?c=summer` });
    expect(known.statusCode).toBe(307);
    const events = await eventsOf('mail-click');
    expect(
      events.map((event) => event.properties).sort((a, b) => String(a.campaign).localeCompare(String(b.campaign))),
    ).toEqual([
      { campaign: 'spring', channel: 'email', missing: null },
      { campaign: 'summer', channel: 'email', missing: null },
    ]);
    expect(events.find((event) => event.properties.campaign === 'spring')).toMatchObject({
      profile: null,
      session: null,
    });
    expect(events.find((event) => event.properties.campaign === 'summer')?.session?.id).toBe(session);
  });

  it('answers an unknown redirect with 404 JSON', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/redirect/no-such-redirect' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'not_found' });
  });
});
