import { afterAll, describe, expect, it } from 'vitest';
import { SystemEvent } from '../../src/tracking/model.js';
import {
  createDeployment,
  createEventSource,
  deploymentModes,
  readAnswer,
  type Deployment,
} from '../support/deployment.js';

/**
 * kill -9 of the API while clients track with their own event ids, then a restart on the same store
 * and the clients' retries of every request that got no answer. What the clients were told is the
 * truth afterwards: every acknowledged event is stored exactly once, and the counters agree with the
 * events stored. Load is bounded by request counts, not by time.
 */
const CLIENTS = 20;
const REQUESTS_PER_CLIENT_PER_CYCLE = 40;
/** The kill comes once this many requests of a cycle were answered, with every client still sending. */
const KILL_AFTER_ANSWERS = 250;
const KILL_CYCLES = 2;
const LOAD_EVENT = 'reliability-load';

interface TrackRequest {
  client: number;
  eventIds: string[];
  body: string;
}

interface ClientLog {
  /** Requests answered 200/226, with the profile the answer named. */
  acknowledged: { request: TrackRequest; profileId: string; answeredIds: string[] }[];
  /** Requests that got no answer: the connection broke or was refused. */
  unanswered: TrackRequest[];
  /** Any other HTTP answer: none is expected. */
  unexpected: { status: number; body: unknown }[];
}

const sessionOf = (client: number) => `reliability-session-${client}`;

function trackRequest(sourceId: string, client: number, sequence: number): TrackRequest {
  const eventIds = Array.from({ length: 1 + (sequence % 3) }, (_, k) => `c${client}-r${sequence}-e${k}`);
  const body = JSON.stringify({
    source: { id: sourceId },
    session: { id: sessionOf(client) },
    events: eventIds.map((id) => ({ type: LOAD_EVENT, id, properties: { client, sequence } })),
  });
  return { client, eventIds, body };
}

async function send(url: string, request: TrackRequest, log: ClientLog): Promise<boolean> {
  let response: Response;
  try {
    response = await fetch(`${url}/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: request.body,
    });
  } catch {
    log.unanswered.push(request);
    return false;
  }
  const answer = await readAnswer(response).catch(() => undefined);
  if (answer && (answer.status === 200 || answer.status === 226)) {
    const body = answer.body as { profile: { id: string }; events: string[] };
    log.acknowledged.push({ request, profileId: body.profile.id, answeredIds: body.events });
    return true;
  }
  if (answer) log.unexpected.push({ status: answer.status, body: answer.body });
  else log.unanswered.push(request);
  return false;
}

/** All clients send until the API is killed under them; returns once every client has stopped. */
async function loadAndKill(
  deployment: Deployment,
  sourceId: string,
  sequences: number[],
  log: ClientLog,
): Promise<void> {
  const url = deployment.url;
  let answered = 0;
  let killing: Promise<void> | undefined;
  await Promise.all(
    sequences.map(async (_, client) => {
      for (let i = 0; i < REQUESTS_PER_CLIENT_PER_CYCLE; i++) {
        const request = trackRequest(sourceId, client, sequences[client]!++);
        if (!(await send(url, request, log))) return;
        if (++answered === KILL_AFTER_ANSWERS) killing = deployment.kill('SIGKILL');
      }
    }),
  );
  if (!killing) throw new Error(`the clients finished before the kill: only ${answered} answers`);
  await killing;
}

/** The clients' retries after the restart: every request without an answer, until it has one. */
async function retryUnanswered(url: string, log: ClientLog): Promise<void> {
  const pending = log.unanswered.splice(0);
  await Promise.all(
    pending.map(async (request) => {
      for (let attempt = 0; attempt < 3; attempt++) if (await send(url, request, log)) return;
    }),
  );
}

describe.each(await deploymentModes())('kill -9 under load, $mode mode', ({ mode, available }) => {
  const deployments: Deployment[] = [];
  afterAll(async () => {
    await Promise.all(deployments.map((deployment) => deployment.dispose()));
  });

  it.skipIf(!available)('stores every acknowledged event id exactly once and keeps the counters exact', async () => {
    const deployment = await createDeployment(mode);
    deployments.push(deployment);
    await deployment.start();
    const sourceId = await createEventSource(deployment, 'load');
    const log: ClientLog = { acknowledged: [], unanswered: [], unexpected: [] };
    const sequences = Array.from({ length: CLIENTS }, () => 0);

    for (let cycle = 0; cycle < KILL_CYCLES; cycle++) {
      await loadAndKill(deployment, sourceId, sequences, log);
      expect(log.unanswered.length, 'requests left without an answer by the kill').toBeGreaterThan(0);
      await deployment.start();
      await retryUnanswered(deployment.url, log);
      expect(log.unanswered, 'requests still unanswered after the restart').toEqual([]);
    }
    expect(log.unexpected).toEqual([]);
    await deployment.stop();

    const sent = log.acknowledged.flatMap(({ request }) => request.eventIds).sort();
    expect(new Set(sent).size).toBe(sent.length);
    for (const { request, answeredIds } of log.acknowledged)
      expect(answeredIds).toEqual(expect.arrayContaining(request.eventIds));
    for (let client = 0; client < CLIENTS; client++) {
      const profiles = new Set(
        log.acknowledged.filter(({ request }) => request.client === client).map(({ profileId }) => profileId),
      );
      expect(profiles.size, `profiles named to client ${client}`).toBe(1);
    }

    const db = await deployment.openStore();
    try {
      const stored = await db.query<{ id: string }>(`SELECT id FROM events WHERE type = $1 ORDER BY id`, [LOAD_EVENT]);
      expect(stored.map((row) => row.id)).toEqual(sent);

      const sessions = await db.query<{ id: string; events_count: number; load_events: number; opened: number }>(
        `SELECT s.id, s.events_count,
                  (SELECT count(*)::int FROM events e WHERE e.session_id = s.id AND e.type = $1) AS load_events,
                  (SELECT count(*)::int FROM events e WHERE e.session_id = s.id AND e.type = $2) AS opened
             FROM sessions s ORDER BY s.id`,
        [LOAD_EVENT, SystemEvent.sessionOpened],
      );
      expect(sessions.map((session) => session.id)).toEqual(
        Array.from({ length: CLIENTS }, (_, client) => sessionOf(client)).sort(),
      );
      for (const session of sessions) {
        expect({ id: session.id, eventsCount: session.events_count, opened: session.opened }).toEqual({
          id: session.id,
          eventsCount: session.load_events,
          opened: 1,
        });
      }

      const profiles = await db.query<{ id: string; visits: number; created: number }>(
        `SELECT p.id, p.visits, (SELECT count(*)::int FROM events e WHERE e.profile_id = p.id AND e.type = $1) AS created
             FROM profiles p ORDER BY p.id`,
        [SystemEvent.profileCreated],
      );
      expect(profiles).toHaveLength(CLIENTS);
      expect(profiles.filter((profile) => profile.visits !== 1 || profile.created !== 1)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
