/**
 * /scheduled over HTTP, with the scheduler worker in the API process (no Redis: the in-process queue's
 * timers wake it), on PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduledEventId } from '../src/scheduler/schedule.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';

interface Item {
  id: string;
  state: string;
  attempts: number;
  lastError: string | null;
  dueAt: string;
  work: Record<string, unknown>;
}

describe.each(BACKENDS)('/scheduled on $name', (backend) => {
  let api: TestApi;
  let profileId: string;
  let available = false;

  beforeAll(async () => {
    available = await backend.available();
    if (!available) return;
    // One attempt: a failure is dead at once, so the test sees a dead item without waiting out a backoff.
    api = await startTestApi(backend.name, { SCHEDULER_MAX_ATTEMPTS: '1' }, { workers: ['scheduler'] });
    const tracked = await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] });
    profileId = (tracked.json() as { profile: { id: string } }).profile.id;
  });
  afterAll(async () => {
    if (available) await api.close();
  });

  const post = (payload: object) => api.admin({ method: 'POST', url: '/scheduled', payload });
  const get = async (id: string) => (await api.admin({ method: 'GET', url: `/scheduled/${id}` })).json() as Item;
  const settled = (id: string, state: string) =>
    eventually(
      () => get(id),
      (item) => item.state === state,
    );

  it('refuses a bad request naming the field', async ({ skip }) => {
    if (!available) skip();
    const cases: [object, string][] = [
      [{ event: { type: 'x' }, delay: '+1m' }, 'profileId'],
      [{ profileId, event: {}, delay: '+1m' }, 'event.type'],
      [{ profileId, event: { type: 'x' }, delay: 'tomorrow' }, 'delay'],
      [{ profileId, event: { type: 'x' }, at: 'soon' }, 'at'],
      [{ profileId, event: { type: 'x' } }, 'at'],
      [{ profileId, event: { type: 'x' }, at: '2030-01-01T00:00:00Z', delay: '+1m' }, 'delay'],
      [{ profileId: 'nobody-has-this-id', event: { type: 'x' }, delay: '+1m' }, 'profileId'],
      [{ profileId, event: { type: 'x' }, delay: '+1m', extra: 1 }, 'extra'],
    ];
    for (const [payload, field] of cases) {
      const response = await post(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json(), JSON.stringify(payload)).toMatchObject({ details: [{ field }] });
    }
  });

  it('tracks a due event for the profile through collect, under the scheduler source', async ({ skip }) => {
    if (!available) skip();
    const created = await post({
      profileId,
      event: { type: 'Reminder Due', properties: { plan: 'gold' } },
      at: new Date(Date.now() - 1000).toISOString(),
    });
    expect(created.statusCode).toBe(201);
    const item = created.json() as Item;
    expect(item).toMatchObject({ state: expect.any(String), work: { profileId, event: { type: 'reminder-due' } } });
    expect((await settled(item.id, 'done')).attempts).toBe(1);

    const events = await api.admin({ method: 'GET', url: `/events?type=reminder-due&profile=${profileId}` });
    expect(events.json()).toMatchObject({
      items: [
        {
          id: scheduledEventId(item.id),
          properties: { plan: 'gold' },
          profile: { id: profileId },
          source: { id: 'scheduler' },
        },
      ],
    });
    const done = await api.admin({ method: 'GET', url: `/scheduled?state=done&profile=${profileId}` });
    expect((done.json() as Item[]).map((each) => each.id)).toContain(item.id);
    const dueBefore = (at: string) => api.admin({ method: 'GET', url: `/scheduled?due_before=${at}` });
    expect(((await dueBefore(item.dueAt)).json() as Item[]).map((each) => each.id)).not.toContain(item.id);
    expect(((await dueBefore(new Date().toISOString())).json() as Item[]).map((each) => each.id)).toContain(item.id);
    expect((await dueBefore('yesterday')).json()).toMatchObject({ details: [{ field: 'due_before' }] });
    expect((await api.admin({ method: 'GET', url: '/scheduled?state=sleeping' })).json()).toMatchObject({
      details: [{ field: 'state' }],
    });
  });

  it('cancels a pending item, and says so when an item already ran', async ({ skip }) => {
    if (!available) skip();
    const later = (await post({ profileId, event: { type: 'later' }, delay: '+1d' })).json() as Item;
    const cancelled = await api.admin({ method: 'DELETE', url: `/scheduled/${later.id}` });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ state: 'cancelled' });
    expect((await api.admin({ method: 'DELETE', url: `/scheduled/${later.id}` })).statusCode).toBe(409);

    const now = (await post({ profileId, event: { type: 'now' }, delay: '+0s' })).json() as Item;
    await settled(now.id, 'done');
    const tooLate = await api.admin({ method: 'DELETE', url: `/scheduled/${now.id}` });
    expect(tooLate.statusCode).toBe(409);
    expect(tooLate.json()).toMatchObject({ error: 'conflict', message: expect.stringContaining('already ran') });
    expect((await api.admin({ method: 'GET', url: '/scheduled/no-such-item' })).statusCode).toBe(404);
  });

  it('shows a dead item with its reason and runs it again when retried by hand', async ({ skip }) => {
    if (!available) skip();
    const off = await api.admin({ method: 'PUT', url: '/event-sources/scheduler', payload: { enabled: false } });
    expect(off.statusCode).toBe(200);
    const item = (await post({ profileId, event: { type: 'held-back' }, delay: '+0s' })).json() as Item;
    const dead = await settled(item.id, 'dead');
    expect(dead.lastError).toMatch(/invalid_source/);
    const listed = await api.admin({ method: 'GET', url: '/scheduled?state=dead' });
    expect((listed.json() as Item[]).map((each) => each.id)).toEqual([item.id]);
    const summary = await api.admin({ method: 'GET', url: '/scheduled/summary' });
    expect(summary.json()).toMatchObject({ counts: { dead: 1 }, lastHour: { done: 2 } });
    expect((await api.admin({ method: 'POST', url: `/scheduled/${item.id}/retry` })).statusCode).toBe(200);
    await settled(item.id, 'dead');

    await api.admin({ method: 'PUT', url: '/event-sources/scheduler', payload: { enabled: true } });
    const retried = await api.admin({ method: 'POST', url: `/scheduled/${item.id}/retry` });
    expect(retried.json()).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await settled(item.id, 'done')).toMatchObject({ attempts: 1, lastError: null });
    expect((await api.admin({ method: 'POST', url: `/scheduled/${item.id}/retry` })).statusCode).toBe(409);
  });
});
