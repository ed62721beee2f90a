import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from './support/processes.js';

const TOKEN = 'identity-race-token';
const available = await postgresAvailable();

describe.skipIf(!available)('identity keys with two API processes on one PostgreSQL', () => {
  let database: TestDatabase;
  const apis: { process: MeridianProcess; url: string }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { DATABASE_URL: database.url, API_TOKEN: TOKEN };
    expect(await runMeridian(['migrate'], env).exited).toBe(0);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const process = runMeridian(['api'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
      apis.push({ process, url: `http://127.0.0.1:${port}` });
    }
    await Promise.all(apis.map((api) => waitForHealthy(api.url, api.process)));
  });

  afterAll(async () => {
    await Promise.all(apis.map((api) => api.process.stop()));
    await database?.drop();
  });

  const call = async (url: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('ends with one profile per email when two new visitors log in with it through both processes at once', async () => {
    const [a, b] = apis.map((api) => api.url) as [string, string];
    const source = (await call(a, 'POST', '/event-sources', { name: 'race' })).body['id'] as string;
    const point = await call(a, 'POST', '/identification-points', {
      name: 'login',
      eventType: 'login',
      fields: [{ event: 'properties.email', profile: 'pii.email' }],
    });
    expect(point.status).toBe(201);
    // Both processes read points through a cache of a few seconds; wait until each applies the new one.
    await new Promise((resolve) => setTimeout(resolve, 2500));

    const emails = Array.from({ length: 20 }, (_, i) => `Race-${i}@Example.com`);
    const answers = await Promise.all(
      emails.flatMap((email) =>
        [a, b].map((url) =>
          call(url, 'POST', '/track', {
            source: { id: source },
            profile: null,
            events: [{ type: 'login', properties: { email } }],
          }),
        ),
      ),
    );
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);

    for (const [index, email] of emails.entries()) {
      const ids = answers
        .slice(index * 2, index * 2 + 2)
        .map((answer) => (answer.body['profile'] as { id: string }).id);
      const resolved = await Promise.all(ids.map((id) => call(a, 'GET', `/profiles/${id}`)));
      expect(new Set(resolved.map((profile) => profile.body['id'])).size, email).toBe(1);
    }
    const sql = postgres(database.url, { max: 1 });
    const [counts] = await sql`
      SELECT (SELECT count(*)::int FROM meridian_test.profiles WHERE pii->>'email' LIKE 'Race-%') AS profiles,
             (SELECT count(*)::int FROM meridian_test.identity_keys WHERE value LIKE 'race-%') AS keys,
             (SELECT count(*)::int FROM meridian_test.events WHERE type = 'login') AS logins,
             (SELECT count(*)::int FROM meridian_test.profile_merges WHERE status = 'merged') AS merges`;
    await sql.end();
    // Each pair made two profiles, and the one that found the email taken merged into the other.
    expect(counts).toEqual({
      profiles: emails.length,
      keys: emails.length,
      logins: emails.length * 2,
      merges: emails.length,
    });
  });

  it('loses no visit or event when an operator merges two profiles while both processes track them', async () => {
    const [a, b] = apis.map((api) => api.url) as [string, string];
    const source = (await call(a, 'POST', '/event-sources', { name: 'merge-race' })).body['id'] as string;
    const track = (url: string, profile: string | null, session: string) =>
      call(url, 'POST', '/track', {
        source: { id: source },
        profile: profile && { id: profile },
        session: { id: session },
        events: [{ type: 'burst' }],
      });
    const x = ((await track(a, null, `x-${Date.now()}`)).body['profile'] as { id: string }).id;
    const y = ((await track(b, null, `y-${Date.now()}`)).body['profile'] as { id: string }).id;

    const visits = 80;
    const tracking = Promise.all(
      Array.from({ length: visits }, (_, i) => track(i % 2 ? a : b, i % 4 < 2 ? x : y, `merge-race-${i}`)),
    );
    const merge = call(b, 'POST', '/profiles/merge', { ids: [x, y] });
    const [answers, merged] = await Promise.all([tracking, merge]);
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(merged.status).toBe(200);

    const survivor = merged.body['survivorId'] as string;
    const profiles = await Promise.all([x, y].map((id) => call(a, 'GET', `/profiles/${id}`)));
    expect(profiles.map((profile) => profile.body['id'])).toEqual([survivor, survivor]);
    const count = (profiles[0]!.body['metadata'] as { time: { visit: { count: number } } }).time.visit.count;
    expect(count).toBe(visits + 2);
    const sql = postgres(database.url, { max: 1 });
    const [counts] = await sql`
      SELECT (SELECT count(*)::int FROM meridian_test.events WHERE type = 'burst' AND profile_id IN (${x}, ${y})) AS bursts,
             (SELECT count(*)::int FROM meridian_test.profiles WHERE id IN (${x}, ${y}) OR ids && ARRAY[${x}, ${y}]) AS profiles`;
    await sql.end();
    expect(counts).toEqual({ bursts: visits + 2, profiles: 1 });
  });
});
