import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHeartbeatConfig } from '../src/config/config.js';
import { runHeartbeat, type HeartbeatReport } from '../src/heartbeat/job.js';
import { planHeartbeat, type QualifyBy } from '../src/heartbeat/options.js';
import type { HeartbeatStore } from '../src/heartbeat/ports.js';
import { SqlHeartbeatStore } from '../src/storage/sql-heartbeat.js';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import type { CommittedChanges } from '../src/tracking/commit-steps.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';

interface Visitor {
  profile: { id: string };
  session: { id: string };
}
interface EventItem {
  id: string;
  type: string;
  profile: { id: string };
  source: { id: string };
  session: { id: string };
  time: { occurred: string };
}

const silent = pino({ level: 'silent' });

/**
 * The event id the job derives: SHA-256 over session, type and last activity, led by the last
 * activity's epoch milliseconds (48 bits, big-endian, as in a UUIDv7), shaped as a version 8 UUID.
 */
function sessionEventId(sessionId: string, type: string, lastActivity: string): string {
  const digest = createHash('sha256').update(`${sessionId}\u0000${type}\u0000${lastActivity}`).digest().subarray(0, 16);
  digest.writeUIntBE(Date.parse(`${lastActivity.slice(0, 23)}Z`), 0, 6);
  digest[6] = (digest[6]! & 0x0f) | 0x80;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
const HOUR = 3_600_000;

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`heartbeat job on ${backend.name}`, () => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend.name);
    });
    afterAll(async () => {
      await api?.close();
    });

    const visit = async (visitor?: Visitor, type = 'page-view'): Promise<Visitor> => {
      const response = await api.track({ source: { id: api.sourceId }, ...visitor, events: [{ type }] });
      expect(response.statusCode).toBe(200);
      return response.json() as Visitor;
    };
    /** Moves a session's last activity: the job's clock is injected, nobody sleeps. */
    const lastActiveAt = async (visitor: Visitor, at: Date) => {
      await api.runtime.db.query('UPDATE sessions SET last_event_at = $2 WHERE id = $1', [visitor.session.id, at]);
    };
    const idleVisitor = async (now: Date, idleMs = HOUR / 2) => {
      const visitor = await visit();
      await lastActiveAt(visitor, new Date(now.getTime() - idleMs));
      return visitor;
    };
    /** A session's last activity as the job hashes it into event ids: exact ISO text, microseconds. */
    const exactLastActivity = async (visitor: Visitor) => {
      const [row] = await api.runtime.db.query<{ last_activity: string }>(
        `SELECT to_char(last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_activity FROM sessions WHERE id = $1`,
        [visitor.session.id],
      );
      return row!.last_activity;
    };
    const heartbeat = (
      qualifyBy: QualifyBy,
      now: Date,
      options: { env?: Record<string, string>; dryRun?: boolean; batchSize?: number } = {},
    ): Promise<HeartbeatReport> =>
      runHeartbeat(
        {
          qualifyBy,
          settings: loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', ...options.env }),
          now,
          dryRun: options.dryRun,
          batchSize: options.batchSize,
          lanes: 2,
        },
        { store: new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS), logger: silent },
      );
    const eventsOf = async (visitor: Visitor, type?: string) => {
      const response = await api.admin({ method: 'GET', url: `/profiles/${visitor.profile.id}/events?limit=100` });
      expect(response.statusCode).toBe(200);
      const items = (response.json() as { items: EventItem[] }).items;
      return items.filter(
        (event) => event.session.id === visitor.session.id && (type === undefined || event.type === type),
      );
    };
    const sessionOf = async (visitor: Visitor) =>
      (await api.admin({ method: 'GET', url: `/sessions/${visitor.session.id}` })).json() as {
        inactive: boolean;
        status: string;
        metadata: { time: { lastEvent: string; visit: { started: string; ended: string | null } } };
      };
    const profileOf = async (visitor: Visitor) =>
      (await api.admin({ method: 'GET', url: `/profiles/${visitor.profile.id}` })).json() as { active: boolean };

    describe('inactive-session', () => {
      it('registers one session-inactive event for an idle session, on its profile and source, and flags session and profile', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        const report = await heartbeat('inactive-session', now);
        expect(report.registered).toBeGreaterThanOrEqual(1);
        const [event, ...more] = await eventsOf(visitor, 'session-inactive');
        expect(more).toEqual([]);
        expect(event).toMatchObject({
          profile: { id: visitor.profile.id },
          source: { id: api.sourceId },
          time: { occurred: now.toISOString() },
        });
        expect(await sessionOf(visitor)).toMatchObject({ inactive: true });
        expect(await profileOf(visitor)).toMatchObject({ active: false });
      });

      it('leaves alone a session with a later event, and a profile that still has an active session', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        await lastActiveAt(visitor, new Date(now.getTime() - 60_000));
        const other = await visit(visitor);
        const secondSession = await visit({ profile: visitor.profile, session: { id: `second-${now.getTime()}` } });
        await lastActiveAt(secondSession, new Date(now.getTime() - HOUR / 2));
        await heartbeat('inactive-session', now);
        expect(await eventsOf(other, 'session-inactive')).toEqual([]);
        expect(await sessionOf(other)).toMatchObject({ inactive: false });
        expect(await sessionOf(secondSession)).toMatchObject({ inactive: true });
        expect(await profileOf(visitor)).toMatchObject({ active: true });
      });

      it('includes both ends of RANGE and requires more than SKIP_SECONDS of inactivity', async () => {
        const now = new Date();
        const from = new Date(now.getTime() - 2 * HOUR);
        const to = new Date(now.getTime() - HOUR);
        const at = async (time: number) => {
          const visitor = await visit();
          await lastActiveAt(visitor, new Date(time));
          return visitor;
        };
        const [beforeFrom, atFrom, atTo, afterTo] = [
          await at(from.getTime() - 1),
          await at(from.getTime()),
          await at(to.getTime()),
          await at(to.getTime() + 1),
        ];
        const env = { RANGE: `${from.toISOString()}|${to.toISOString()}` };
        await heartbeat('inactive-session', now, { env });
        const registered = async (visitor: Visitor) => (await eventsOf(visitor, 'session-inactive')).length;
        expect([
          await registered(beforeFrom),
          await registered(atFrom),
          await registered(atTo),
          await registered(afterTo),
        ]).toEqual([0, 1, 1, 0]);

        const exactlySkip = await at(now.getTime() - 900_000);
        const justOver = await at(now.getTime() - 900_001);
        await heartbeat('inactive-session', now);
        expect([await registered(exactlySkip), await registered(justOver)]).toEqual([0, 1]);
      });

      it('emits nothing new when run again for the same inactivity, and again after new activity goes idle', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        await heartbeat('inactive-session', now);
        const again = await heartbeat('inactive-session', new Date(now.getTime() + 1000));
        expect(again.registered).toBe(0);
        expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);

        await visit(visitor);
        expect(await sessionOf(visitor)).toMatchObject({ inactive: false });
        expect(await profileOf(visitor)).toMatchObject({ active: true });
        const later = new Date(Date.now() + HOUR / 2);
        await heartbeat('inactive-session', later);
        expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(2);
      });

      it('registers each event once when two runs start at the same moment', async () => {
        const now = new Date();
        const visitors = await Promise.all(Array.from({ length: 6 }, () => idleVisitor(now)));
        const stored = async () => {
          const [row] = await api.runtime.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM events WHERE type = 'session-inactive'`,
          );
          return row!.n;
        };
        const before = await stored();
        const runs = await Promise.all([
          heartbeat('inactive-session', now, { batchSize: 2 }),
          heartbeat('inactive-session', now, { batchSize: 2 }),
        ]);
        for (const visitor of visitors) expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);
        expect(runs[0]!.registered + runs[1]!.registered).toBe((await stored()) - before);
      });

      it('stores a registration once when the same slice is registered twice at once', async () => {
        const now = new Date();
        const visitors = await Promise.all(Array.from({ length: 4 }, () => idleVisitor(now)));
        const store = new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS);
        const plan = planHeartbeat(
          'inactive-session',
          loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: 'race-inactive' }),
          now,
        );
        const [slice, ...others] = await store.slices(plan, 1, 10_000);
        expect(others).toEqual([]);
        const [first, second] = await Promise.all([
          store.register(plan, slice!, {}, now),
          store.register(plan, slice!, {}, now),
        ]);
        expect(first + second).toBe(slice!.size);
        for (const visitor of visitors) expect(await eventsOf(visitor, 'race-inactive')).toHaveLength(1);
      });

      it('hands the commit steps the events a registration stored, with their profiles', async () => {
        const now = new Date();
        const visitors = await Promise.all(Array.from({ length: 3 }, () => idleVisitor(now)));
        const seen: CommittedChanges[] = [];
        const store = new SqlHeartbeatStore(api.runtime.db, [
          { name: 'record', run: async (_tx, changes) => void seen.push(changes) },
        ]);
        const plan = planHeartbeat(
          'inactive-session',
          loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: 'stepped-inactive' }),
          now,
        );
        const [slice] = await store.slices(plan, 1, 10_000);
        await store.register(plan, slice!, {}, now);
        // Registered already: nothing stored, so no step runs.
        await store.register(plan, slice!, {}, now);
        expect(seen).toHaveLength(1);
        const [changes] = seen;
        expect(changes!.writer).toBe('heartbeat');
        expect(changes!.events).toHaveLength(slice!.size);
        for (const visitor of visitors) {
          const [event] = await eventsOf(visitor, 'stepped-inactive');
          expect(changes!.events).toContainEqual({
            id: event!.id,
            type: 'stepped-inactive',
            profileId: visitor.profile.id,
            sessionId: visitor.session.id,
            sourceId: api.sourceId,
            occurredAt: now,
          });
          expect(changes!.profiles).toContainEqual({ id: visitor.profile.id, eventTypes: ['stepped-inactive'] });
        }
      });

      it('skips the sessions of a planned slice that another run marked or whose activity moved on', async () => {
        const now = new Date();
        const [marked, moved, stayed] = await Promise.all([idleVisitor(now), idleVisitor(now), idleVisitor(now)]);
        const store = new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS);
        const plan = planHeartbeat(
          'inactive-session',
          loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: 'moved-inactive' }),
          now,
        );
        const slices = await store.slices(plan, 2, 10_000);
        // Still inside its slice's bounds, but marked for its current activity, as another run leaves it.
        await api.runtime.db.query(
          `UPDATE sessions SET registered_types = ARRAY['moved-inactive'], registered_for = last_event_at WHERE id = $1`,
          [marked.session.id],
        );
        await lastActiveAt(moved, new Date(now.getTime() - 60_000));
        for (const slice of slices) await store.register(plan, slice, {}, now);
        expect(await eventsOf(marked, 'moved-inactive')).toEqual([]);
        expect(await eventsOf(moved, 'moved-inactive')).toEqual([]);
        expect(await eventsOf(stayed, 'moved-inactive')).toHaveLength(1);
      });

      // PGlite has one connection: no second transaction can hold a row lock while a slice registers.
      if (backend.name === 'postgres') {
        it('re-checks a session that a concurrent run holds, and skips it once that run marked it', async () => {
          const now = new Date();
          const [held, free] = await Promise.all([idleVisitor(now), idleVisitor(now)]);
          const store = new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS);
          const plan = planHeartbeat(
            'inactive-session',
            loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: 'held-inactive' }),
            now,
          );
          const slices = await store.slices(plan, 1, 100_000);
          let release!: () => void;
          const released = new Promise<void>((resolve) => (release = resolve));
          let holding!: () => void;
          const held$ = new Promise<void>((resolve) => (holding = resolve));
          // Another run marks the session (its event aside) and keeps the row lock until released.
          const writer = api.runtime.db.transaction(async (tx) => {
            await tx.query(
              `UPDATE sessions SET registered_types = ARRAY['held-inactive'], registered_for = last_event_at WHERE id = $1`,
              [held.session.id],
            );
            holding();
            await released;
          });
          await held$;
          const registering = Promise.all(slices.map((slice) => store.register(plan, slice, {}, now)));
          // The registration must be waiting on the writer's row lock before the writer commits.
          for (let waiting = 0; waiting === 0;) {
            const [row] = await api.runtime.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            );
            waiting = row!.n;
          }
          release();
          await writer;
          await registering;
          expect(await eventsOf(held, 'held-inactive')).toEqual([]);
          expect(await eventsOf(free, 'held-inactive')).toHaveLength(1);
        });

        it('flags the survivor of a merge that deleted the profile while the registration waited for its lock', async () => {
          const now = new Date();
          const [merged, survivor] = await Promise.all([idleVisitor(now), visit()]);
          // The survivor's own session is over: only the merged profile's idle session keeps it active.
          await api.runtime.db.query('UPDATE sessions SET inactive = true WHERE id = $1', [survivor.session.id]);
          const store = new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS);
          const plan = planHeartbeat(
            'inactive-session',
            loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', EVENT_TYPE: 'merged-inactive' }),
            now,
          );
          const slices = await store.slices(plan, 1, 100_000);
          let release!: () => void;
          const released = new Promise<void>((resolve) => (release = resolve));
          let holding!: () => void;
          const held$ = new Promise<void>((resolve) => (holding = resolve));
          // A merge as identity writes one: both profiles locked, the survivor takes the id, the other goes.
          const merge = api.runtime.db.transaction(async (tx) => {
            await tx.query('SELECT id FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
              [merged.profile.id, survivor.profile.id],
            ]);
            holding();
            await released;
            await tx.query('UPDATE profiles SET ids = ids || $2::text, active = true WHERE id = $1', [
              survivor.profile.id,
              merged.profile.id,
            ]);
            await tx.query('DELETE FROM profiles WHERE id = $1', [merged.profile.id]);
          });
          await held$;
          const registering = Promise.all(slices.map((slice) => store.register(plan, slice, {}, now)));
          for (let waiting = 0; waiting === 0;) {
            const [row] = await api.runtime.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            );
            waiting = row!.n;
          }
          release();
          await merge;
          await registering;
          expect(
            await eventsOf({ profile: survivor.profile, session: merged.session }, 'merged-inactive'),
          ).toHaveLength(1);
          expect((await profileOf(survivor)).active).toBe(false);
        });
      }

      it('stores the event under an id derived from session, type and last activity, with the session’s source', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        const lastActivity = await exactLastActivity(visitor);
        await heartbeat('inactive-session', now);
        const [event] = await api.runtime.db.query<{
          id: string;
          source_id: string;
          metadata: Record<string, unknown>;
          occurred_at: Date;
        }>(
          `SELECT id, source_id, metadata, occurred_at FROM events WHERE session_id = $1 AND type = 'session-inactive'`,
          [visitor.session.id],
        );
        expect(event).toEqual({
          id: sessionEventId(visitor.session.id, 'session-inactive', lastActivity),
          source_id: api.sourceId,
          metadata: { registeredBy: 'heartbeat:inactive-session', system: true, lastActivity },
          occurred_at: now,
        });
      });

      it('keeps an event already stored under the derived id when a session lost its mark, and registers the rest of its slice', async () => {
        const now = new Date();
        const [unmarked, other] = await Promise.all([idleVisitor(now), idleVisitor(now)]);
        const lastActivity = await exactLastActivity(unmarked);
        const id = sessionEventId(unmarked.session.id, 'lost-mark', lastActivity);
        await api.runtime.db.query(
          `INSERT INTO events (id, type, profile_id, session_id, source_id, occurred_at) VALUES ($1, 'lost-mark', $2, $3, $4, $5)`,
          [id, unmarked.profile.id, unmarked.session.id, api.sourceId, now],
        );
        const report = await heartbeat('inactive-session', now, { env: { EVENT_TYPE: 'lost-mark' } });
        expect(report.registered).toBe(report.due - 1);
        expect((await eventsOf(unmarked, 'lost-mark')).map((event) => event.id)).toEqual([id]);
        expect(await eventsOf(other, 'lost-mark')).toHaveLength(1);
        expect(await sessionOf(unmarked)).toMatchObject({ inactive: true });
      });

      it('takes marks for an earlier activity as stale, whoever moved the activity on', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        await heartbeat('inactive-session', now);
        await heartbeat('visit-end', now);
        // A writer that knows nothing of marks (an API process of the previous version) records new activity.
        await api.runtime.db.query(
          `UPDATE sessions SET last_event_at = $2, inactive = false, status = 'active' WHERE id = $1`,
          [visitor.session.id, new Date(now.getTime() - HOUR / 3)],
        );
        await heartbeat('inactive-session', now);
        await heartbeat('visit-end', now);
        expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(2);
        expect(await eventsOf(visitor, 'visit-ended')).toHaveLength(2);
        expect(await sessionOf(visitor)).toMatchObject({ inactive: true, status: 'ended' });
      });

      it('queues the profile for post-event segmentation while a segment is enabled, as /track does', async () => {
        const created = await api.admin({
          method: 'POST',
          url: '/segments',
          payload: {
            name: `gone quiet ${Date.now()}`,
            condition: 'profile@metadata.time.visit.count >= 1',
            eventTypes: ['session-inactive'],
          },
        });
        expect(created.statusCode).toBe(201);
        try {
          const now = new Date();
          const visitor = await idleVisitor(now);
          await api.runtime.db.query('DELETE FROM segmentation_pending WHERE profile_id = $1', [visitor.profile.id]);
          await heartbeat('inactive-session', now);
          const pending = await api.runtime.db.query<{ event_types: string[] }>(
            'SELECT event_types FROM segmentation_pending WHERE profile_id = $1',
            [visitor.profile.id],
          );
          expect(pending).toEqual([{ event_types: ['session-inactive'] }]);
        } finally {
          await api.admin({ method: 'DELETE', url: `/segments/${(created.json() as { id: string }).id}` });
        }
      });

      it('pages through sessions whose last activity has microseconds, ties included', async () => {
        const now = new Date();
        const visitors = await Promise.all(Array.from({ length: 5 }, () => visit()));
        const tie = `${new Date(now.getTime() - HOUR / 2).toISOString().slice(0, -1)}123Z`;
        await api.runtime.db.query(
          `UPDATE sessions SET last_event_at = $2::text::timestamptz + (CASE WHEN id = $3 THEN interval '1 microsecond' ELSE interval '0' END)
            WHERE id = ANY($1::text[])`,
          [visitors.map((visitor) => visitor.session.id), tie, visitors[0]!.session.id],
        );
        const report = await heartbeat('inactive-session', now, { batchSize: 2 });
        expect(report.due).toBeGreaterThanOrEqual(visitors.length);
        for (const visitor of visitors) expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);
      });

      it('takes TO to the millisecond: a day rounded up includes its last microseconds', async () => {
        const now = new Date();
        const visitor = await visit();
        const yesterday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - 1);
        await api.runtime.db.query('UPDATE sessions SET last_event_at = $2::text::timestamptz WHERE id = $1', [
          visitor.session.id,
          `${yesterday.toISOString().slice(0, 19)}.999500Z`,
        ]);
        // SKIP_SECONDS 0: in a day's first quarter hour, yesterday's last instant is not yet idle for the default.
        await heartbeat('inactive-session', now, { env: { RANGE: 'now-1d/d|now-1d/d', SKIP_SECONDS: '0' } });
        expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);
      });

      describe('a session still carrying the id of a profile merged into another (imported data)', () => {
        /** The survivor lists the merged id in `ids`; the merged profile's row is gone, its session keeps the id. */
        const mergeInto = async (visitor: Visitor, now: Date) => {
          const survivor = { id: `survivor-${visitor.profile.id}` };
          await api.runtime.db.query('INSERT INTO profiles (id, ids, visits) VALUES ($1, ARRAY[$2], 1)', [
            survivor.id,
            visitor.profile.id,
          ]);
          await api.runtime.db.query('DELETE FROM profiles WHERE id = $1', [visitor.profile.id]);
          expect(
            ((await api.admin({ method: 'GET', url: `/profiles/${visitor.profile.id}` })).json() as { id: string }).id,
          ).toBe(survivor.id);
          return { profile: survivor, session: { id: `own-${survivor.id}-${now.getTime()}` } };
        };

        it('registers its event under the surviving profile, as /track stores its events, and flags the survivor', async () => {
          const now = new Date();
          const merged = await idleVisitor(now);
          const survivor = await mergeInto(merged, now);
          await heartbeat('inactive-session', now);
          expect(
            await eventsOf({ profile: survivor.profile, session: merged.session }, 'session-inactive'),
          ).toHaveLength(1);
          expect((await profileOf(survivor)).active).toBe(false);
        });

        it('lists the survivor on a dry run, as the run will store the event', async () => {
          const now = new Date();
          const merged = await idleVisitor(now);
          const survivor = await mergeInto(merged, now);
          const report = await heartbeat('inactive-session', now, { dryRun: true });
          expect(report.wouldRegister.find((session) => session.id === merged.session.id)?.profileId).toBe(
            survivor.profile.id,
          );
        });

        it('leaves a merged id that is still a profile of its own to that profile, for the event and the flag', async () => {
          const now = new Date();
          const other = await visit();
          const survivor = await idleVisitor(now);
          await api.runtime.db.query('UPDATE profiles SET ids = ARRAY[$2] WHERE id = $1', [
            survivor.profile.id,
            other.profile.id,
          ]);
          await heartbeat('inactive-session', now);
          expect(await eventsOf(survivor, 'session-inactive')).toHaveLength(1);
          expect((await profileOf(survivor)).active).toBe(false);
          expect((await profileOf(other)).active).toBe(true);
        });

        it('keeps the survivor active while such a session is active', async () => {
          const now = new Date();
          const merged = await visit();
          const survivor = await mergeInto(merged, now);
          await visit(survivor);
          await lastActiveAt(survivor, new Date(now.getTime() - HOUR / 2));
          await heartbeat('inactive-session', now);
          expect(await eventsOf(survivor, 'session-inactive')).toHaveLength(1);
          expect((await sessionOf(merged)).inactive).toBe(false);
          expect((await profileOf(survivor)).active).toBe(true);
        });
      });

      it('spreads the slices over HEARTBEAT_LANES lanes and registers every due session once', async () => {
        const now = new Date();
        const visitors = await Promise.all(Array.from({ length: 20 }, () => idleVisitor(now)));
        const [shared] = visitors;
        const sibling = await visit({ profile: shared!.profile, session: { id: `sibling-${now.getTime()}` } });
        await lastActiveAt(sibling, new Date(now.getTime() - HOUR / 2));
        const store = new SqlHeartbeatStore(api.runtime.db, COMMIT_STEPS);
        const lanesAtWork = new Set<number>();
        const recording: HeartbeatStore = {
          countInRange: (plan) => store.countInRange(plan),
          slices: (plan, shares, size) => store.slices(plan, shares, size),
          dueIn: (plan, slice) => store.dueIn(plan, slice),
          register: (plan, slice, metadata, at) => (
            lanesAtWork.add(slice.share.index),
            store.register(plan, slice, metadata, at)
          ),
        };
        const settings = loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900', HEARTBEAT_LANES: '5' });
        const report = await runHeartbeat(
          { qualifyBy: 'inactive-session', settings, now, batchSize: 2, lanes: settings.lanes },
          { store: recording, logger: silent },
        );
        expect(lanesAtWork.size).toBeGreaterThan(2);
        expect(report.registered).toBe(report.due);
        for (const visitor of [...visitors, sibling])
          expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);
        expect((await profileOf(shared!)).active).toBe(false);
      });

      it('registers a custom EVENT_TYPE', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        await heartbeat('inactive-session', now, { env: { EVENT_TYPE: 'Gone Quiet' } });
        expect(await eventsOf(visitor, 'gone-quiet')).toHaveLength(1);
      });
    });

    describe('visit-end', () => {
      it('closes an idle open visit, and the next event reopens it', async () => {
        const now = new Date();
        const visitor = await idleVisitor(now);
        const before = await sessionOf(visitor);
        await heartbeat('visit-end', now);
        expect(await eventsOf(visitor, 'visit-ended')).toHaveLength(1);
        const ended = await sessionOf(visitor);
        expect(ended).toMatchObject({ status: 'ended', metadata: { time: { visit: { ended: now.toISOString() } } } });
        expect(ended.metadata.time.lastEvent).toBe(before.metadata.time.lastEvent);
        expect((await heartbeat('visit-end', now)).registered).toBe(0);

        await visit(visitor);
        expect(await sessionOf(visitor)).toMatchObject({
          status: 'started',
          metadata: { time: { visit: { ended: null } } },
        });
        expect(await eventsOf(visitor, 'visit-started')).toHaveLength(2);
        const later = new Date(Date.now() + HOUR / 2);
        await heartbeat('visit-end', later);
        expect(await eventsOf(visitor, 'visit-ended')).toHaveLength(2);
      });

      it('skips a visit already closed by a close event', async () => {
        const now = new Date();
        const visitor = await visit();
        await visit(visitor, 'visit-ended');
        await lastActiveAt(visitor, new Date(now.getTime() - HOUR / 2));
        await heartbeat('visit-end', now);
        expect(await eventsOf(visitor, 'visit-ended')).toHaveLength(1);
      });

      it('uses OPEN_EVENT_TYPE and CLOSE_EVENT_TYPE', async () => {
        const now = new Date();
        const opened = await visit(undefined, 'app-opened');
        const plain = await visit();
        await lastActiveAt(opened, new Date(now.getTime() - HOUR / 2));
        await lastActiveAt(plain, new Date(now.getTime() - HOUR / 2));
        await heartbeat('visit-end', now, { env: { OPEN_EVENT_TYPE: 'app-opened', CLOSE_EVENT_TYPE: 'app-closed' } });
        expect(await eventsOf(opened, 'app-closed')).toHaveLength(1);
        expect(await eventsOf(plain, 'app-closed')).toHaveLength(0);
      });
    });

    it('running inactive-session then visit-end over one idle session yields one event each, and re-runs nothing', async () => {
      const now = new Date();
      const visitor = await idleVisitor(now);
      for (const qualifyBy of ['inactive-session', 'visit-end', 'inactive-session', 'visit-end'] as const)
        await heartbeat(qualifyBy, now);
      expect(await eventsOf(visitor, 'session-inactive')).toHaveLength(1);
      expect(await eventsOf(visitor, 'visit-ended')).toHaveLength(1);
    });

    it('changes nothing on a dry run, and says what it would register', async () => {
      const now = new Date();
      const visitor = await idleVisitor(now);
      const before = { session: await sessionOf(visitor), events: await eventsOf(visitor) };
      const report = await heartbeat('visit-end', now, { dryRun: true });
      expect(report.registered).toBe(0);
      const ids = report.wouldRegister.map((session) => session.id);
      expect(ids).toContain(visitor.session.id);
      expect(new Set(ids).size).toBe(report.due);
      expect(ids).toHaveLength(report.due);
      expect({ session: await sessionOf(visitor), events: await eventsOf(visitor) }).toEqual(before);
    });
  });
}
