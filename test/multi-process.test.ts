import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from './support/processes.js';

const TOKEN = 'multi-process-token';
const available = await postgresAvailable();

describe.skipIf(!available)('several API processes on one PostgreSQL', () => {
  let database: TestDatabase;
  const apis: { process: MeridianProcess; url: string }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { DATABASE_URL: database.url, API_TOKEN: TOKEN };
    // Two migrations at once: the advisory lock makes the second wait, then find nothing to do.
    const migrations = [runMeridian(['migrate'], env), runMeridian(['migrate'], env)];
    expect(await Promise.all(migrations.map((run) => run.exited))).toEqual([0, 0]);
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

  const post = async (url: string, path: string, body: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, { id: string }> };
  };

  it('applied each migration once', async () => {
    const sql = postgres(database.url, { max: 1 });
    const rows = await sql`SELECT version, count(*)::int AS n FROM meridian_test.schema_migrations GROUP BY version`;
    await sql.end();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row['n'] === 1)).toBe(true);
  });

  it('never loses a visit or duplicates a profile when both processes hammer one profile', async () => {
    const [a, b] = apis.map((api) => api.url) as [string, string];
    const source = (await post(a, '/event-sources', { name: 'load' })).body['id'] as unknown as string;
    const first = await post(a, '/track', { source: { id: source }, events: [{ type: 'page-view' }] });
    const profile = first.body['profile']!;

    const visits = 200;
    const results = await Promise.all(
      Array.from({ length: visits }, (_, i) =>
        post(i % 2 ? a : b, '/track', {
          source: { id: source },
          profile,
          session: { id: `visit-${i}` },
          events: [{ type: 'burst' }],
        }),
      ),
    );
    expect(results.filter((result) => result.status !== 200)).toEqual([]);
    expect(new Set(results.map((result) => result.body['profile']!.id))).toEqual(new Set([profile.id]));

    const read = await fetch(`${a}/profiles/${profile.id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const stored = (await read.json()) as { metadata: { time: { visit: { count: number } } } };
    expect(stored.metadata.time.visit.count).toBe(visits + 1);

    const sql = postgres(database.url, { max: 1 });
    const [counts] = await sql`
      SELECT (SELECT count(*)::int FROM meridian_test.profiles) AS profiles,
             (SELECT count(*)::int FROM meridian_test.events WHERE type = 'burst') AS bursts`;
    await sql.end();
    expect(counts).toEqual({ profiles: 1, bursts: visits });
  });

  it('creates one profile and one session when a new visitor’s first requests race through both processes', async () => {
    const [a, b] = apis.map((api) => api.url) as [string, string];
    const source = (await post(a, '/event-sources', { name: 'race' })).body['id'] as unknown as string;
    const sessionId = `race-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post(i % 2 ? a : b, '/track', {
          source: { id: source },
          profile: null,
          session: { id: sessionId },
          events: [{ type: 'first-page' }],
        }),
      ),
    );
    expect(results.filter((result) => result.status !== 200)).toEqual([]);
    const profiles = new Set(results.map((result) => result.body['profile']!.id));
    expect(profiles.size).toBe(1);
    const sql = postgres(database.url, { max: 1 });
    const [counts] = await sql`
      SELECT (SELECT count(*)::int FROM meridian_test.sessions WHERE id = ${sessionId}) AS sessions,
             (SELECT count(*)::int FROM meridian_test.events WHERE session_id = ${sessionId} AND type = 'profile-created') AS created,
             (SELECT count(*)::int FROM meridian_test.events WHERE session_id = ${sessionId} AND type = 'first-page') AS pages`;
    await sql.end();
    expect(counts).toEqual({ sessions: 1, created: 1, pages: 40 });
  });
});
