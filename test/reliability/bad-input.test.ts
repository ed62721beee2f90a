import { afterAll, describe, expect, it } from 'vitest';
import { SystemEvent } from '../../src/tracking/model.js';
import { createBadInputGenerator, namesField, type GeneratedRequest } from '../support/bad-track-input.js';
import {
  createDeployment,
  createEventSource,
  deploymentModes,
  readAnswer,
  type Deployment,
  type HttpAnswer,
} from '../support/deployment.js';
import { mulberry32 } from '../support/random.js';

/**
 * A generated bad-input run against `/track`, mixed with good requests and sent concurrently (a bad
 * request must not sink the good ones sharing its commit): no 5xx, every error names a field, the
 * server is healthy after, nothing of a refused request or event is stored, every good request is.
 * The seed is random unless RELIABILITY_SEED is set; it is in the test's name and in every failure.
 */
const SEED = process.env['RELIABILITY_SEED']
  ? Number(process.env['RELIABILITY_SEED'])
  : Math.floor(Math.random() * 2 ** 31);
const REQUESTS = 400;
const CONCURRENCY = 8;
const MAX_PAYLOAD_BYTES = 256 * 1024;
const SYSTEM_EVENT_TYPES = Object.values(SystemEvent);

interface Answered {
  request: GeneratedRequest;
  answer: HttpAnswer | undefined;
}

function excerpt(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** What is wrong with one answer, judged against what the request expected; empty when it is right. */
function judge({ request, answer }: Answered): string[] {
  if (!answer) return ['no answer (connection failed)'];
  const problems: string[] = [];
  const { status, body } = answer;
  const expected = request.expected;
  if (status >= 500) return [`${status} ${excerpt(body)}`];
  if (!answer.contentType?.startsWith('application/json') || body === undefined)
    problems.push(`${status} answer is not JSON`);
  const relevant = (field: unknown) =>
    typeof field === 'string' && (request.fields.length === 0 || request.fields.some((f) => namesField(field, f)));

  if (status === 200 || status === 226) {
    const answered = body as { events?: string[]; errors?: { index?: unknown; field?: unknown; message?: unknown }[] };
    const storedIds = new Set(answered.events ?? []);
    if (expected.kind === 'refused') problems.push(`${status}: accepted a request that must be refused`);
    if (expected.kind === 'stored') {
      if (status !== 200) problems.push(`${status} for a good request: ${excerpt(answered.errors)}`);
      const missing = request.eventIds.filter((id) => !storedIds.has(id));
      if (missing.length > 0) problems.push(`good events not acknowledged: ${missing.join(', ')}`);
    }
    if (expected.kind === 'event-refused') {
      const refusedId = request.eventIds[expected.index]!;
      if (storedIds.has(refusedId)) problems.push(`${status}: stored event ${expected.index}, which must be refused`);
      const named = (answered.errors ?? []).filter((error) => error.index === expected.index);
      if (named.length === 0 || !named.some((error) => relevant(error.field))) {
        problems.push(
          `${status}: errors do not name ${request.fields.join(' or ')} for event ${expected.index}: ${excerpt(answered.errors)}`,
        );
      }
    }
    if (
      status === 226 &&
      (answered.errors ?? []).some((error) => typeof error.field !== 'string' || typeof error.message !== 'string')
    ) {
      problems.push(`226 errors without field and message: ${excerpt(answered.errors)}`);
    }
    return problems;
  }
  if (status >= 400) {
    if (expected.kind === 'stored') problems.push(`${status} for a good request: ${excerpt(body)}`);
    const error = body as { error?: unknown; details?: { field?: unknown }[] } | undefined;
    if (typeof error?.error !== 'string' || !Array.isArray(error.details) || error.details.length === 0) {
      problems.push(`${status} error without a code and named fields: ${excerpt(body)}`);
    } else if (!error.details.some((detail) => relevant(detail.field))) {
      problems.push(
        `${status} names ${excerpt(error.details.map((detail) => detail.field))}, not ${request.fields.join(' or ')}`,
      );
    }
    return problems;
  }
  return [`unexpected status ${status}: ${excerpt(body)}`];
}

async function send(url: string, request: GeneratedRequest): Promise<HttpAnswer | undefined> {
  try {
    const response = await fetch(`${url}/track`, {
      method: 'POST',
      headers: { 'content-type': request.contentType },
      body: request.body,
    });
    return await readAnswer(response);
  } catch {
    return undefined;
  }
}

describe.each(await deploymentModes())('generated bad input against /track, $mode mode', ({ mode, available }) => {
  const deployments: Deployment[] = [];
  afterAll(async () => {
    await Promise.all(deployments.map((deployment) => deployment.dispose()));
  });

  it.skipIf(!available)(
    `answers every request below 500, naming the field, and stores exactly what it acknowledged (seed ${SEED})`,
    async () => {
      const reproduce = `seed ${SEED}: rerun with RELIABILITY_SEED=${SEED} npm run test:reliability`;
      const deployment = await createDeployment(mode, { MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES) });
      deployments.push(deployment);
      await deployment.start();
      const sourceId = await createEventSource(deployment, 'fuzz');
      const generate = createBadInputGenerator(mulberry32(SEED), { sourceId, maxPayloadBytes: MAX_PAYLOAD_BYTES });
      const requests = Array.from({ length: REQUESTS }, (_, n) => generate(n));

      const answered: Answered[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < requests.length) {
            const request = requests[next++]!;
            answered.push({ request, answer: await send(deployment.url, request) });
          }
        }),
      );

      // One line per kind of failure, with its count and first example: readable when many fail alike.
      const failures = new Map<string, { count: number; example: string }>();
      for (const item of answered) {
        for (const problem of judge(item)) {
          const key = `${item.request.mutation}: ${problem.split(':')[0]}`;
          const seen = failures.get(key) ?? {
            count: 0,
            example: `${item.request.label} [${item.request.contentType}]: ${problem}`,
          };
          failures.set(key, { ...seen, count: seen.count + 1 });
        }
      }
      // Soft, so that the store is judged too.
      expect
        .soft(
          [...failures.values()].map(({ count, example }) => `${count}× e.g. ${example}`),
          reproduce,
        )
        .toEqual([]);

      const health = await fetch(`${deployment.url}/healthcheck`);
      expect(health.status, reproduce).toBe(200);
      const after = await send(deployment.url, generate(REQUESTS, 'good'));
      expect(after?.status, `${reproduce}: a good request after the run`).toBe(200);
      await deployment.stop();

      const acknowledged = answered.filter(({ answer }) => answer?.status === 200 || answer?.status === 226);
      const ackedBodies = acknowledged.map(
        ({ answer }) => answer!.body as { events: string[]; session: { id: string }; profile: { id: string } },
      );
      const refusedIds = new Set(
        answered.flatMap(({ request, answer }) => {
          if (answer?.status === 200 || answer?.status === 226) {
            return request.expected.kind === 'event-refused' ? [request.eventIds[request.expected.index]!] : [];
          }
          return request.eventIds;
        }),
      );
      const db = await deployment.openStore();
      try {
        const events = await db.query<{ id: string; marker: string | null }>(
          `SELECT id, properties->>'marker' AS marker FROM events WHERE type <> ALL($1::text[]) ORDER BY id`,
          [SYSTEM_EVENT_TYPES],
        );
        const afterIds = (after?.body as { events: string[] }).events;
        expect(
          events.map((event) => event.id),
          reproduce,
        ).toEqual([...new Set([...ackedBodies.flatMap((body) => body.events), ...afterIds])].sort());
        const storedRefused = events.filter(
          (event) => refusedIds.has(event.id) || (event.marker !== null && refusedIds.has(event.marker)),
        );
        expect(storedRefused, `${reproduce}: events of refused requests or refused events were stored`).toEqual([]);

        const sessions = await db.query<{ id: string }>(`SELECT id FROM sessions`);
        const profiles = await db.query<{ id: string }>(`SELECT id FROM profiles`);
        const afterBody = after?.body as { session?: { id: string }; profile?: { id: string } } | undefined;
        const expectedSessions = new Set([
          ...ackedBodies.map((body) => body.session.id),
          ...(afterBody?.session ? [afterBody.session.id] : []),
        ]);
        const expectedProfiles = new Set([
          ...ackedBodies.map((body) => body.profile.id),
          ...(afterBody?.profile ? [afterBody.profile.id] : []),
        ]);
        expect(new Set(sessions.map((session) => session.id)), `${reproduce}: sessions`).toEqual(expectedSessions);
        expect(new Set(profiles.map((profile) => profile.id)), `${reproduce}: profiles`).toEqual(expectedProfiles);
      } finally {
        await db.close();
      }
    },
  );
});
