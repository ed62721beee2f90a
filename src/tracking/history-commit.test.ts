import { describe, expect, it } from 'vitest';
import type { Mapping } from '../mapping/mapping.js';
import type { CommittedChanges } from './commit-steps.js';
import { HistoryCommit } from './history-commit.js';
import type { ProfileState, SessionState, TrackCommand, TrackOutcome } from './model.js';
import type {
  AppendBatch,
  AppendOutcome,
  BatchCommitter,
  BatchKeys,
  HistoryStore,
  HistoryWrites,
  LockedBatch,
} from './ports.js';
import { StoredEventId } from './ports.js';

const NOW = new Date('2026-01-01T10:00:00Z');

/** The port held in memory: what the store holds, and what each call was handed. */
class MemoryHistoryStore implements HistoryStore<null> {
  readonly profiles = new Map<string, ProfileState>();
  readonly sessions = new Map<string, SessionState>();
  readonly writes: HistoryWrites[] = [];

  transaction<T>(work: (tx: null) => Promise<T>): Promise<T> {
    return work(null);
  }

  async peek(_tx: null, keys: BatchKeys): Promise<LockedBatch> {
    const sessions = keys.sessionIds.flatMap((id) => {
      const session = this.sessions.get(id);
      return session ? [structuredClone(session)] : [];
    });
    const named = new Set([...keys.profileIds, ...sessions.map((session) => session.profileId)]);
    const profiles = [...this.profiles.values()].filter(
      (profile) => named.has(profile.id) || profile.ids.some((id) => named.has(id)),
    );
    return { sessions, profiles: structuredClone(profiles), documents: new Map(), storedEventIds: new Set() };
  }

  async writeHistory(_tx: null, writes: HistoryWrites): Promise<Set<string>> {
    this.writes.push(writes);
    return new Set(writes.events.map((event) => event.id));
  }

  async settleTouches(): Promise<{ settled: number; profileIds: string[] }> {
    return { settled: 0, profileIds: [] };
  }

  /** Ids of the events appended, and whether each call was told ids may be stored already. */
  readonly appended = new Set<string>();
  readonly appendCalls: boolean[] = [];

  async appendEvents(_tx: null, batch: AppendBatch, idsMayBeStored: boolean): Promise<AppendOutcome> {
    this.appendCalls.push(idsMayBeStored);
    const fresh = batch.events.filter((event) => !this.appended.has(event.id));
    if (fresh.length < batch.events.length && !idsMayBeStored) throw new StoredEventId();
    for (const event of fresh) this.appended.add(event.id);
    return {
      stored: fresh.map((event) => ({
        id: event.id,
        type: event.type,
        profileId: event.profileId!,
        sessionId: event.sessionId,
      })),
      declined: [],
    };
  }
}

/** The locking commit, as far as this one sees it: which commands it was handed. */
class RecordingCommitter implements BatchCommitter {
  readonly handed: TrackCommand[] = [];

  async commit(commands: TrackCommand[]): Promise<TrackOutcome[]> {
    this.handed.push(...commands);
    return commands.map((command) => ({
      profileId: command.profileId!,
      sessionId: command.sessionId!,
      eventIds: command.events.map((event) => event.id),
      duplicateEventIds: [],
      warnings: [],
      inlineRuns: [],
    }));
  }
}

let generated = 0;
function command(person: string, overrides: Partial<TrackCommand> = {}, mappings: Mapping[] = []): TrackCommand {
  const id = `e-${++generated}`;
  return {
    requestId: 'r',
    sourceId: 'import',
    profileId: person,
    sessionId: `s-${person}`,
    facts: { device: {}, os: {}, app: {}, context: {} },
    context: {},
    events: [
      { index: 0, id, type: 'purchase', event: { type: 'purchase' }, time: NOW, traits: {}, profileMappings: mappings },
    ],
    save: { session: true, events: true, profile: true },
    problems: [],
    ...overrides,
  };
}

function setUp() {
  const store = new MemoryHistoryStore();
  const locking = new RecordingCommitter();
  const steps: CommittedChanges[] = [];
  const commit = new HistoryCommit(
    store,
    [{ name: 'record', run: async (_tx, changes) => void steps.push(changes) }],
    locking,
  );
  const profile = (id: string, ids: string[] = []): ProfileState => {
    const stored = { id, ids, visits: 1, lastVisitAt: null, currentVisitAt: NOW, active: true, createdAt: NOW };
    store.profiles.set(id, stored);
    return stored;
  };
  const session = (person: string, profileId: string, status: SessionState['status'] = 'active') =>
    store.sessions.set(`s-${person}`, {
      id: `s-${person}`,
      profileId,
      sourceId: 'import',
      status,
      eventsCount: 3,
      visitStartedAt: NOW,
      visitEndedAt: null,
      lastEventAt: NOW,
      inactive: false,
      createdAt: NOW,
      facts: { device: {}, os: {}, app: {}, context: {} },
    });
  return { store, locking, steps, commit, profile, session };
}

describe('HistoryCommit', () => {
  it('creates a person the store does not know with the visit rules: profile, session, system events, the event', async () => {
    const { store, locking, steps, commit } = setUp();
    const [outcome] = await commit.commit([command('ann')], NOW);
    expect(locking.handed).toEqual([]);
    const [writes] = store.writes;
    expect(writes!.newProfiles).toHaveLength(1);
    expect(writes!.newSessions.map((session) => session.id)).toEqual(['s-ann']);
    expect(writes!.events.map((event) => event.type)).toEqual([
      'profile-created',
      'session-opened',
      'visit-started',
      'purchase',
    ]);
    expect(writes!.touchedSessionIds).toEqual([]);
    expect(outcome).toMatchObject({ profileId: writes!.newProfiles[0]!.id, sessionId: 's-ann' });
    expect(steps[0]!.events).toHaveLength(4);
  });

  it('touches a stored session whose visit goes on, rewriting neither it nor its profile', async () => {
    const { store, locking, commit, profile, session } = setUp();
    profile('p-bob');
    session('bob', 'p-bob');
    const [outcome] = await commit.commit([command('bob')], NOW);
    expect(locking.handed).toEqual([]);
    const [writes] = store.writes;
    expect(writes).toMatchObject({ newProfiles: [], newSessions: [], touchedSessionIds: ['s-bob'] });
    expect(writes!.events.map((event) => [event.type, event.profileId, event.sessionId])).toEqual([
      ['purchase', 'p-bob', 's-bob'],
    ]);
    expect(outcome).toMatchObject({ profileId: 'p-bob', sessionId: 's-bob' });
  });

  it('hands the locking commit what depends on rows a concurrent commit may change', async () => {
    const { store, locking, commit, profile, session } = setUp();
    profile('p-ended');
    session('ended', 'p-ended', 'ended');
    session('orphan', 'p-merged-away');
    profile('p-survivor', ['merged-id']);
    profile('p-other');
    session('named', 'p-named');
    profile('p-named');
    const mapping = { id: 'm', kind: 'event-to-profile', eventType: 'purchase' } as unknown as Mapping;
    const commands = [
      command('ended'),
      command('orphan'),
      command('merged-id'),
      command('named', { profileId: 'p-other' }),
      command('mapped', {}, [mapping]),
      command('device', { facts: { device: { id: 'd-1' }, os: {}, app: {}, context: {} } }),
      command('twice'),
      command('twice'),
      command('history', { save: { session: true, events: true, profile: false } }),
      command('plain'),
    ];
    const outcomes = await commit.commit(commands, NOW);
    expect(locking.handed.map((handed) => handed.sessionId)).toEqual([
      's-ended',
      's-orphan',
      's-merged-id',
      's-named',
      's-mapped',
      's-device',
      's-twice',
      's-twice',
      's-history',
    ]);
    expect(store.writes[0]!.newSessions.map((each) => each.id)).toEqual(['s-plain']);
    // Each answer in its command's place, whichever commit took it.
    expect(outcomes.map((outcome) => outcome.sessionId)).toEqual(commands.map((each) => each.sessionId));
  });

  it('appends without checking for stored ids until a batch holds one, then checks until a batch holds none', async () => {
    const { store, commit } = setUp();
    const batch = (...ids: string[]): AppendBatch => ({
      sourceId: 'import',
      now: NOW,
      events: ids.map((id) => ({
        id,
        type: 'purchase',
        sessionId: 's-ann',
        profileId: 'ann',
        properties: {},
        occurredAt: NOW,
      })),
    });
    const stored = async (...ids: string[]) =>
      (await commit.append(batch(...ids), false)).stored.map((event) => event.id);
    expect(await stored('a', 'b')).toEqual(['a', 'b']);
    // Read again after a kill: the stored id is left alone, the rest stored.
    expect(await stored('b', 'c')).toEqual(['c']);
    expect(await stored('c', 'd')).toEqual(['d']);
    expect(await stored('e')).toEqual(['e']);
    expect(await stored('f')).toEqual(['f']);
    expect(store.appendCalls).toEqual([false, false, true, true, true, false]);
  });
});
