import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemEvent } from '../../src/tracking/model.js';
import { createDeployment, createEventSource, readAnswer, type Deployment } from '../support/deployment.js';
import { postgresAvailable } from '../support/postgres.js';
import { freePort, runMeridian, waitForHealthy, type MeridianProcess } from '../support/processes.js';

/**
 * Several `meridian api` processes on one profile, with every request delivered twice through two
 * different processes at once, as a client's retry behind a load balancer does. test/multi-process.test.ts
 * proves two processes keep visits and new-visitor races exact; this adds client event ids, duplicate
 * deliveries and a third process: every count is still exact and there is one profile.
 */
const API_PROCESSES = 3;
const REQUESTS = 150;
const SESSIONS = 10;

const postgresUp = await postgresAvailable();

describe.skipIf(!postgresUp)('several API processes on one profile, every request delivered twice', () => {
  let deployment: Deployment;
  const replicas: { process: MeridianProcess; url: string }[] = [];

  beforeAll(async () => {
    deployment = await createDeployment('server');
    await deployment.start();
    for (let i = 1; i < API_PROCESSES; i++) {
      const port = await freePort();
      const process = runMeridian(['api'], { ...deployment.env, PORT: String(port), HOST: '127.0.0.1' });
      replicas.push({ process, url: `http://127.0.0.1:${port}` });
    }
    await Promise.all(replicas.map((replica) => waitForHealthy(replica.url, replica.process, 180_000)));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.process.stop()));
    await deployment?.dispose();
  });

  it('stores each event once, keeps one profile and exact counters', async () => {
    const urls = [deployment.url, ...replicas.map((replica) => replica.url)];
    const track = async (url: string, body: unknown) => {
      const response = await fetch(`${url}/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return readAnswer(response);
    };
    const source = await createEventSource(deployment, 'replicas');
    const first = await track(urls[0]!, {
      source: { id: source },
      session: { id: 'visit-first' },
      events: [{ type: 'burst', id: 'burst-first' }],
    });
    expect(first.status).toBe(200);
    const profileId = (first.body as { profile: { id: string } }).profile.id;

    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => {
        const body = {
          source: { id: source },
          profile: { id: profileId },
          session: { id: `visit-${i % SESSIONS}` },
          events: [{ type: 'burst', id: `burst-${i}` }],
        };
        return Promise.all([track(urls[i % API_PROCESSES]!, body), track(urls[(i + 1) % API_PROCESSES]!, body)]);
      }),
    );
    const all = answers.flat();
    expect(all.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(all.map((answer) => (answer.body as { profile: { id: string } }).profile.id))).toEqual(
      new Set([profileId]),
    );

    const db = await deployment.openStore();
    try {
      const [counts] = await db.query<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM profiles) AS profiles,
                (SELECT count(*)::int FROM sessions) AS sessions,
                (SELECT count(*)::int FROM events WHERE type = 'burst') AS bursts,
                (SELECT count(DISTINCT id)::int FROM events WHERE type = 'burst') AS distinct_bursts,
                (SELECT count(*)::int FROM events WHERE type = $1) AS profiles_created,
                (SELECT count(*)::int FROM events WHERE type = $2) AS sessions_opened,
                (SELECT visits FROM profiles WHERE id = $3) AS visits`,
        [SystemEvent.profileCreated, SystemEvent.sessionOpened, profileId],
      );
      const sessions = SESSIONS + 1;
      expect(counts).toEqual({
        profiles: 1,
        sessions,
        bursts: REQUESTS + 1,
        distinct_bursts: REQUESTS + 1,
        profiles_created: 1,
        sessions_opened: sessions,
        visits: sessions,
      });
      const miscounted = await db.query(
        `SELECT s.id, s.events_count, (SELECT count(*)::int FROM events e WHERE e.session_id = s.id AND e.type = 'burst') AS stored
           FROM sessions s
          WHERE s.events_count <> (SELECT count(*) FROM events e WHERE e.session_id = s.id AND e.type = 'burst')`,
      );
      expect(miscounted, 'sessions whose events_count differs from the events stored in them').toEqual([]);
    } finally {
      await db.close();
    }
  });
});
