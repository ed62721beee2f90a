import { describe, expect, it } from 'vitest';
import type { ProfileDocument } from '../mapping/apply.js';
import type { Mapping } from '../mapping/mapping.js';
import type { CommitStep, CommittedChanges } from './commit-steps.js';
import { TrackCommit } from './commit.js';
import type { EventRecord, ProfileState, SessionState, TrackCommand } from './model.js';
import type { BatchKeys, BatchWrites, LockedBatch, TrackingStore } from './ports.js';
import { emptyProfileDocument } from './profile-mappings.js';

const NOW = new Date('2026-01-01T10:00:00Z');

/** The transaction of the fake: what happened in it, in order. */
type Log = string[];

/**
 * The narrow port held in memory: locks nothing (one batch at a time), reads copies, and stores an
 * event id once, as the SQL store does.
 */
class MemoryTrackingStore implements TrackingStore<Log> {
  readonly profiles = new Map<string, ProfileState>();
  readonly sessions = new Map<string, SessionState>();
  readonly events = new Map<string, EventRecord>();
  readonly documents = new Map<string, ProfileDocument>();
  readonly applied: BatchWrites['appliedMappings'] = [];
  readonly log: Log = [];

  transaction<T>(work: (tx: Log) => Promise<T>): Promise<T> {
    return work(this.log);
  }

  async lock(tx: Log, keys: BatchKeys): Promise<LockedBatch> {
    tx.push('lock');
    const sessions = keys.sessionIds.flatMap((id) => {
      const session = this.sessions.get(id);
      return session ? [structuredClone(session)] : [];
    });
    const named = new Set([...keys.profileIds, ...sessions.map((session) => session.profileId)]);
    const profiles = [...this.profiles.values()]
      .filter((profile) => named.has(profile.id) || profile.ids.some((id) => keys.profileIds.includes(id)))
      .map((profile) => structuredClone(profile));
    const mapped = keys.mappedEventIds.length > 0;
    return {
      sessions,
      profiles,
      documents: new Map(
        mapped
          ? profiles.map((profile) => [
              profile.id,
              structuredClone(this.documents.get(profile.id) ?? emptyProfileDocument(profile.id)),
            ])
          : [],
      ),
      storedEventIds: new Set(keys.eventIds.filter((id) => this.events.has(id))),
    };
  }

  async write(tx: Log, writes: BatchWrites): Promise<Set<string>> {
    tx.push('write');
    for (const profile of [...writes.newProfiles, ...writes.changedProfiles]) this.profiles.set(profile.id, profile);
    for (const session of [...writes.newSessions, ...writes.changedSessions]) this.sessions.set(session.id, session);
    const stored = new Set<string>();
    for (const event of writes.events) {
      if (this.events.has(event.id)) continue;
      this.events.set(event.id, event);
      stored.add(event.id);
    }
    for (const [id, document] of writes.profileDocuments) this.documents.set(id, document);
    this.applied.push(...writes.appliedMappings);
    return stored;
  }
}

let generated = 0;

function command(
  events: { type: string; id?: string; properties?: Record<string, unknown> }[],
  overrides: Partial<TrackCommand> = {},
  profileMappings: readonly Mapping[] = [],
): TrackCommand {
  return {
    requestId: 'r',
    sourceId: 'web',
    facts: { device: {}, os: {}, app: {}, context: {} },
    context: {},
    events: events.map((event, index) => ({
      index,
      id: event.id ?? `generated-${++generated}`,
      type: event.type,
      event: { type: event.type, properties: event.properties },
      time: NOW,
      traits: {},
      profileMappings: profileMappings.filter((mapping) => mapping.eventType === event.type),
    })),
    save: { session: true, events: true, profile: true },
    problems: [],
    ...overrides,
  };
}

function setup() {
  const store = new MemoryTrackingStore();
  const committed: CommittedChanges[] = [];
  const step: CommitStep<Log> = {
    name: 'record',
    run: async (tx, changes) => {
      tx.push('step');
      committed.push(changes);
    },
  };
  return { store, committed, commit: new TrackCommit(store, [step]) };
}

const countPurchases: Mapping = {
  id: 'count-purchases',
  name: 'count purchases',
  kind: 'event-to-profile',
  eventType: 'purchase',
  enabled: true,
  condition: null,
  mapping: [{ event: 'properties.quantity', profile: 'stats.purchases', op: 'increment' }],
  createdAt: '',
  updatedAt: '',
};

describe('TrackCommit', () => {
  it('locks and reads, writes the decided changes, then runs the steps on what was stored', async () => {
    const { store, committed, commit } = setup();
    const [outcome] = await commit.commit([command([{ type: 'page-view', id: 'e1' }], { sessionId: 's1' })], NOW);
    expect(store.log).toEqual(['lock', 'write', 'step']);
    expect(outcome).toMatchObject({ sessionId: 's1', eventIds: ['e1'], duplicateEventIds: [], warnings: [] });
    expect(store.sessions.get('s1')?.profileId).toBe(outcome!.profileId);
    expect(store.profiles.get(outcome!.profileId)?.visits).toBe(1);
    const types = ['profile-created', 'session-opened', 'visit-started', 'page-view'];
    expect(committed).toEqual([
      {
        writer: 'track',
        events: types.map((type) => ({
          id: type === 'page-view' ? 'e1' : expect.any(String),
          type,
          profileId: outcome!.profileId,
          sessionId: 's1',
          sourceId: 'web',
          occurredAt: NOW,
        })),
        profiles: [{ id: outcome!.profileId, eventTypes: types }],
      },
    ]);
  });

  it('applies a batch in arrival order: a later request sees the session an earlier one opened', async () => {
    const { store, commit } = setup();
    const [first, second] = await commit.commit(
      [command([{ type: 'a' }], { sessionId: 's1' }), command([{ type: 'b' }], { sessionId: 's1' })],
      NOW,
    );
    expect(second!.profileId).toBe(first!.profileId);
    expect(store.profiles.size).toBe(1);
    expect([...store.events.values()].filter((event) => event.type === 'visit-started')).toHaveLength(1);
  });

  it('reports an event id stored before as a duplicate, and gives the steps only what it stored', async () => {
    const { committed, commit } = setup();
    const [first] = await commit.commit([command([{ type: 'a', id: 'e1' }], { sessionId: 's1' })], NOW);
    const [again] = await commit.commit(
      [command([{ type: 'a', id: 'e1' }], { sessionId: 's1', profileId: first!.profileId })],
      NOW,
    );
    expect(again).toMatchObject({ eventIds: ['e1'], duplicateEventIds: ['e1'] });
    expect(committed[1]!.events).toEqual([]);
    expect(committed[1]!.profiles).toEqual([{ id: first!.profileId, eventTypes: ['a'] }]);
  });

  it('stores an id sent by two requests of one batch once, and reports it for the second', async () => {
    const { store, committed, commit } = setup();
    const [first, second] = await commit.commit(
      [command([{ type: 'a', id: 'same' }]), command([{ type: 'a', id: 'same' }])],
      NOW,
    );
    expect(first!.duplicateEventIds).toEqual([]);
    expect(second!.duplicateEventIds).toEqual(['same']);
    expect(committed[0]!.events.filter((event) => event.id === 'same')).toHaveLength(1);
    expect(store.events.get('same')?.profileId).toBe(first!.profileId);
  });

  it('with saveProfile false, writes no profile and names none to the steps', async () => {
    const { store, committed, commit } = setup();
    const noProfile = { session: true, events: true, profile: false };
    await commit.commit([command([{ type: 'a', id: 'e1' }], { save: noProfile })], NOW);
    expect(store.profiles.size).toBe(0);
    expect(store.sessions.size).toBe(0);
    expect(committed[0]).toEqual({
      writer: 'track',
      events: [{ id: 'e1', type: 'a', profileId: null, sessionId: null, sourceId: 'web', occurredAt: NOW }],
      profiles: [],
    });
  });

  it('with saveEvents false, stores no event and reports none as a duplicate', async () => {
    const { store, committed, commit } = setup();
    const noEvents = { session: true, events: false, profile: true };
    const [outcome] = await commit.commit([command([{ type: 'a', id: 'e1' }], { save: noEvents })], NOW);
    expect(outcome).toMatchObject({ eventIds: ['e1'], duplicateEventIds: [] });
    expect(store.events.has('e1')).toBe(false);
    expect(committed[0]!.events).toEqual([]);
  });

  it('applies event-to-profile mappings under the lock, once per event id', async () => {
    const { store, committed, commit } = setup();
    const purchase = (id: string, profileId?: string) =>
      command([{ type: 'purchase', id, properties: { quantity: 2 } }], { sessionId: 's1', profileId }, [
        countPurchases,
      ]);
    const [first] = await commit.commit([purchase('p1')], NOW);
    await commit.commit([purchase('p2', first!.profileId), purchase('p1', first!.profileId)], NOW);
    expect(store.documents.get(first!.profileId)?.stats).toEqual({ purchases: 4 });
    expect(store.applied).toEqual([
      { mappingId: 'count-purchases', eventId: 'p1' },
      { mappingId: 'count-purchases', eventId: 'p2' },
    ]);
    expect(committed[1]!.events.map((event) => event.id)).toEqual(['p2']);
  });

  it('fails the whole transaction, steps included, when the store fails to write the batch', async () => {
    const { store } = setup();
    let settledSteps = false;
    store.write = () => Promise.reject(new Error('disk full'));
    const slowStep: CommitStep<Log> = {
      name: 'slow',
      run: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        settledSteps = true;
      },
    };
    const failing = new TrackCommit(store, [slowStep]).commit([command([{ type: 'a' }])], NOW);
    await expect(failing).rejects.toThrow('disk full');
    // The transaction ends only once every statement it issued has answered.
    expect(settledSteps).toBe(true);
  });
});
