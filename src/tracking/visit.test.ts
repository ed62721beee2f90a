import { describe, expect, it } from 'vitest';
import type { TrackCommand } from './model.js';
import { normalizeEventType } from './payload.js';
import { applyTrackCommand, VisitLedger } from './visit.js';

const NOW = new Date('2026-01-01T10:00:00Z');

function command(overrides: Partial<TrackCommand> = {}, types: string[] = ['page-view']): TrackCommand {
  return {
    requestId: 'r',
    sourceId: 'src',
    facts: { device: {}, os: {}, app: {}, context: {} },
    context: {},
    events: types.map((type, index) => ({
      index,
      id: `event-${index}`,
      type: normalizeEventType(type),
      event: { type },
      time: NOW,
      traits: {},
      profileMappings: [],
    })),
    save: { session: true, events: true, profile: true },
    problems: [],
    ...overrides,
  };
}

const types = (ledger: VisitLedger) => ledger.events.map((event) => event.type);

describe('applyTrackCommand', () => {
  it('dates the system events no later than the earliest event that caused them, nor later than now', () => {
    const ledger = new VisitLedger([], []);
    const early = new Date(NOW.getTime() - 5000);
    const late = new Date(NOW.getTime() + 5000);
    const tracked = command({}, ['page-view', 'purchase']);
    tracked.events = [
      { ...tracked.events[0]!, time: late },
      { ...tracked.events[1]!, time: early },
    ];
    applyTrackCommand(ledger, tracked, NOW);
    expect(ledger.events.map((event) => [event.type, event.occurredAt])).toEqual([
      ['profile-created', early],
      ['session-opened', early],
      ['visit-started', early],
      ['page-view', late],
      ['purchase', early],
    ]);
    const later = new VisitLedger([], []);
    applyTrackCommand(later, command({}, ['page-view']), new Date(NOW.getTime() - 1000));
    expect(later.events[0]!.occurredAt).toEqual(new Date(NOW.getTime() - 1000));
  });

  it("creates an unknown profile with the client's id only when the command says the id is static", () => {
    const ledger = new VisitLedger([], []);
    const given = applyTrackCommand(ledger, command({ profileId: 'user-1', staticProfileId: true }), NOW);
    expect(given.profileId).toBe('user-1');
    expect(types(ledger)).toContain('profile-created');
    // The same id again, in the same batch, is that profile.
    expect(applyTrackCommand(ledger, command({ profileId: 'user-1', staticProfileId: true }), NOW).profileId).toBe(
      'user-1',
    );
    // Without the flag an unknown id is not taken, as in Tracardi: a new profile gets a new id.
    expect(applyTrackCommand(new VisitLedger([], []), command({ profileId: 'user-2' }), NOW).profileId).not.toBe(
      'user-2',
    );
  });

  it('emits profile-created, session-opened and visit-started for a new visitor', () => {
    const ledger = new VisitLedger([], []);
    const result = applyTrackCommand(ledger, command({}, ['Page View', 'purchase']), NOW);
    expect(types(ledger)).toEqual(['profile-created', 'session-opened', 'visit-started', 'page-view', 'purchase']);
    expect(result.eventIds).toHaveLength(2);
    expect(ledger.profiles.get(result.profileId)).toMatchObject({ visits: 1, currentVisitAt: NOW, lastVisitAt: null });
    expect(ledger.sessions.get(result.sessionId)).toMatchObject({ status: 'started' });
  });

  it('lets a later command in the same batch find the session an earlier one created', () => {
    const ledger = new VisitLedger([], []);
    const first = applyTrackCommand(ledger, command({ sessionId: 's1' }), NOW);
    const second = applyTrackCommand(ledger, command({ sessionId: 's1' }), NOW);
    expect(second.profileId).toBe(first.profileId);
    expect(types(ledger).filter((type) => type === 'profile-created')).toHaveLength(1);
    expect(ledger.sessions.get('s1')).toMatchObject({ status: 'active' });
  });

  it('resolves a profile by the id of a profile merged into it', () => {
    const ledger = new VisitLedger(
      [{ id: 'main', ids: ['old'], visits: 3, lastVisitAt: null, currentVisitAt: null, active: false, createdAt: NOW }],
      [],
    );
    const result = applyTrackCommand(ledger, command({ profileId: 'old' }), NOW);
    expect(result.profileId).toBe('main');
    expect(ledger.profiles.get('main')).toMatchObject({ visits: 4, active: true });
    expect(types(ledger)).not.toContain('profile-created');
  });

  it('ends the visit on visit-ended and reopens it on the next event', () => {
    const ledger = new VisitLedger([], []);
    const { sessionId, profileId } = applyTrackCommand(
      ledger,
      command({ sessionId: 's' }, ['page-view', 'visit-ended', 'page-view']),
      NOW,
    );
    expect(types(ledger).slice(3)).toEqual(['page-view', 'visit-ended', 'visit-started', 'page-view']);
    expect(ledger.sessions.get(sessionId)).toMatchObject({ status: 'started', visitEndedAt: null });
    expect(ledger.profiles.get(profileId)!.visits).toBe(2);
  });

  it('keeps the session and profile unsaved when the command asks so', () => {
    const ledger = new VisitLedger([], []);
    const { sessionId, profileId } = applyTrackCommand(
      ledger,
      command({ save: { session: false, events: false, profile: false } }),
      NOW,
    );
    expect(ledger.savedSessions.has(sessionId)).toBe(false);
    expect(ledger.savedProfiles.has(profileId)).toBe(false);
    expect(ledger.events.every((event) => !event.save)).toBe(true);
  });

  it('still saves a profile that another command of the batch asked to save', () => {
    const ledger = new VisitLedger([], []);
    const first = applyTrackCommand(ledger, command({ sessionId: 's' }), NOW);
    applyTrackCommand(ledger, command({ sessionId: 's', save: { session: false, events: true, profile: false } }), NOW);
    expect(ledger.savedProfiles.has(first.profileId)).toBe(true);
    expect(ledger.savedSessions.has('s')).toBe(true);
  });

  it("stores a new visitor's events without profile or session when the profile is not saved", () => {
    const ledger = new VisitLedger([], []);
    const { sessionId } = applyTrackCommand(
      ledger,
      command({ save: { session: true, events: true, profile: false } }, ['page-view', 'purchase']),
      NOW,
    );
    // No profile is created, so no profile-created; a session needs a stored profile, so none either.
    expect(types(ledger)).toEqual(['page-view', 'purchase']);
    expect(ledger.events.every((event) => event.save && event.profileId === null && event.sessionId === null)).toBe(
      true,
    );
    expect(ledger.savedProfiles.size).toBe(0);
    expect(ledger.savedSessions.has(sessionId)).toBe(false);
  });

  it('leaves an existing profile as it was when it is not saved, its events still pointing at it', () => {
    const ledger = new VisitLedger(
      [{ id: 'known', ids: [], visits: 3, lastVisitAt: null, currentVisitAt: null, active: false, createdAt: NOW }],
      [],
    );
    const { sessionId } = applyTrackCommand(
      ledger,
      command({ profileId: 'known', save: { session: true, events: true, profile: false } }),
      NOW,
    );
    expect(types(ledger)).toEqual(['session-opened', 'visit-started', 'page-view']);
    expect(ledger.events.every((event) => event.profileId === 'known' && event.sessionId === sessionId)).toBe(true);
    expect(ledger.savedProfiles.has('known')).toBe(false);
    expect(ledger.savedSessions.has(sessionId)).toBe(true);
  });

  it('stores events of a session that is not saved without the session', () => {
    const ledger = new VisitLedger([], []);
    const { profileId } = applyTrackCommand(
      ledger,
      command({ save: { session: false, events: true, profile: true } }),
      NOW,
    );
    expect(types(ledger)).toEqual(['profile-created', 'page-view']);
    expect(ledger.events.every((event) => event.profileId === profileId && event.sessionId === null)).toBe(true);
  });

  it('records the system events of a new profile and session when a later command of the batch stores them', () => {
    const ledger = new VisitLedger([], []);
    applyTrackCommand(ledger, command({ sessionId: 's', save: { session: true, events: true, profile: false } }), NOW);
    const later = applyTrackCommand(ledger, command({ sessionId: 's' }, ['purchase']), NOW);
    expect(types(ledger)).toEqual(['page-view', 'profile-created', 'session-opened', 'visit-started', 'purchase']);
    expect(ledger.events.slice(1).every((event) => event.profileId === later.profileId)).toBe(true);
  });
});
