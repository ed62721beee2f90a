/** The /mappings and /jobs routes over a real store (PGlite, and PostgreSQL when its service is up). */
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../src/api/error-handler.js';
import { jobRoutes } from '../src/api/routes/jobs.js';
import { mappingRoutes } from '../src/api/routes/mappings.js';
import { validatorCompiler } from '../src/api/validation.js';
import { startBackfill, startMappingWorkers } from '../src/mapping/backfill.js';
import type { MappingServices } from '../src/mapping/ports.js';
import { MemoryJobQueue } from '../src/queue/memory.js';
import type { Database } from '../src/storage/database.js';
import { SqlJobRuns } from '../src/storage/sql-job-runs.js';
import { SqlMappingBackfills } from '../src/storage/sql-mapping-backfill.js';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import { SqlMappings } from '../src/storage/sql-mappings.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';

const logger = pino({ level: 'silent' });

const emailToProfile = {
  name: 'Email to profile',
  kind: 'event-to-profile',
  eventType: 'Sign Up',
  condition: 'event@properties.email EXISTS',
  mapping: [
    { event: 'properties.email', profile: 'pii.email', op: 'equals_if_not_exists' },
    { profile: 'stats.signups', op: 'increment' },
  ],
};

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`mapping routes on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let app: FastifyInstance;
    let forgotten = 0;
    const queue = new MemoryJobQueue({ logger });

    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      const mappings = new SqlMappings(db);
      const deps = { mappings, backfills: new SqlMappingBackfills(db, COMMIT_STEPS), queue, logger, batchSize: 2 };
      const services: MappingServices = {
        mappings,
        mappingCache: { forget: () => void forgotten++ },
        backfill: (id, range) => startBackfill(deps, id, range),
        jobRuns: new SqlJobRuns(db),
      };
      app = Fastify();
      app.setValidatorCompiler(validatorCompiler);
      app.setErrorHandler(errorHandler);
      await app.register(mappingRoutes(services));
      await app.register(jobRoutes(services));
      startMappingWorkers(deps, { concurrency: 1 });
    });
    afterAll(async () => {
      await app?.close();
      await queue.close();
      await db?.dispose();
    });

    it('creates, reads, lists, replaces and deletes a mapping', async () => {
      const created = await app.inject({
        method: 'POST',
        url: '/mappings',
        payload: { id: 'signup', ...emailToProfile },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        id: 'signup',
        kind: 'event-to-profile',
        eventType: 'sign-up',
        enabled: true,
        mapping: [
          { event: 'properties.email', profile: 'pii.email', op: 'equals_if_not_exists' },
          { profile: 'stats.signups', op: 'increment' },
        ],
      });
      expect(forgotten).toBe(1);
      expect(
        (await app.inject({ method: 'POST', url: '/mappings', payload: { id: 'signup', ...emailToProfile } }))
          .statusCode,
      ).toBe(409);
      expect((await app.inject({ method: 'GET', url: '/mappings/signup' })).json()).toEqual(created.json());
      expect((await app.inject({ method: 'GET', url: '/mappings' })).json()).toEqual([created.json()]);

      const replaced = await app.inject({
        method: 'PUT',
        url: '/mappings/signup',
        payload: {
          name: 'price',
          kind: 'event-props-to-traits',
          eventType: 'purchase',
          mapping: { 'properties.price': 'traits.price' },
          enabled: false,
        },
      });
      expect(replaced.statusCode).toBe(200);
      expect(replaced.json()).toMatchObject({
        kind: 'event-props-to-traits',
        mapping: { 'properties.price': 'traits.price' },
        condition: null,
        enabled: false,
      });
      expect((await app.inject({ method: 'PUT', url: '/mappings/none', payload: emailToProfile })).statusCode).toBe(
        404,
      );

      expect((await app.inject({ method: 'DELETE', url: '/mappings/signup' })).statusCode).toBe(204);
      expect((await app.inject({ method: 'DELETE', url: '/mappings/signup' })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/mappings/signup' })).statusCode).toBe(404);
      expect(forgotten).toBe(3);
    });

    it('answers 400 naming the field for a body that is wrong by shape or by meaning', async () => {
      const problem = async (payload: object) => {
        const response = await app.inject({ method: 'POST', url: '/mappings', payload });
        expect(response.statusCode).toBe(400);
        return (response.json() as { details: { field: string }[] }).details[0]?.field;
      };
      expect(await problem({ ...emailToProfile, kind: 'profile-to-event' })).toBe('kind');
      expect(
        await problem({
          ...emailToProfile,
          mapping: [{ event: 'properties.email', profile: 'pii.email', op: 'multiply' }],
        }),
      ).toBe('mapping.0.op');
      expect(await problem({ ...emailToProfile, name: undefined })).toBe('name');
      expect(
        await problem({ ...emailToProfile, mapping: [{ event: 'properties.email', profile: 'segments.email' }] }),
      ).toBe('mapping.0.profile');
      expect(await problem({ ...emailToProfile, condition: 'memory@x == 1' })).toBe('condition');
      expect(await problem({ ...emailToProfile, condition: 'event@ ==' })).toBe('condition');
      expect(
        await problem({
          ...emailToProfile,
          kind: 'event-props-to-traits',
          mapping: { 'properties.a': 'properties.b' },
          condition: null,
        }),
      ).toBe('mapping["properties.a"]');
    });

    it('starts a backfill and reports its progress until done', async () => {
      await db.query(`INSERT INTO profiles (id) VALUES ('api-p')`);
      await db.query(
        `INSERT INTO events (id, type, profile_id, source_id, properties, occurred_at)
         SELECT 'api-e' || n, 'sign-up', 'api-p', 's', jsonb_build_object('email', 'e' || n || '@x'), '2026-02-01'::timestamptz + n * interval '1 day'
           FROM generate_series(1, 5) AS n`,
      );
      expect(
        (await app.inject({ method: 'POST', url: '/mappings', payload: { id: 'signup-2', ...emailToProfile } }))
          .statusCode,
      ).toBe(201);

      const bad = await app.inject({
        method: 'POST',
        url: '/mappings/signup-2/backfill',
        payload: { from: 'yesterday' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().details[0].field).toBe('from');
      expect((await app.inject({ method: 'POST', url: '/mappings/none/backfill', payload: {} })).statusCode).toBe(404);

      const started = await app.inject({
        method: 'POST',
        url: '/mappings/signup-2/backfill',
        payload: { from: '2026-02-03T00:00:00Z' },
      });
      expect(started.statusCode).toBe(202);
      const run = started.json() as { id: string; total: number; batches: number; kind: string };
      expect(run).toMatchObject({ kind: 'event-to-profile', subject: 'signup-2', total: 4, batches: 2 });
      let progress: { state: string; done: number } = { state: 'queued', done: 0 };
      for (let i = 0; i < 200 && progress.state !== 'done'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        progress = (await app.inject({ method: 'GET', url: `/jobs/${run.id}` })).json();
      }
      expect(progress).toMatchObject({ state: 'done', total: 4, done: 4, errors: 0, batchesDone: 2 });
      const [profile] = await db.query<{ pii: unknown; stats: unknown }>(
        `SELECT pii, stats FROM profiles WHERE id = 'api-p'`,
      );
      expect(profile).toEqual({ pii: { email: 'e2@x' }, stats: { signups: 4 } });

      expect((await app.inject({ method: 'POST', url: '/mappings/signup-2/backfill' })).statusCode).toBe(202);
      expect((await app.inject({ method: 'GET', url: '/jobs/nope' })).statusCode).toBe(404);
    });
  });
}
