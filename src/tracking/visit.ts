import { SystemEvent, type EventRecord, type ProfileState, type SessionState, type TrackCommand } from './model.js';
import { timeOrderedId } from '../shared/ids.js';

/**
 * Everything a batch of /track commands reads and writes, keyed by id. Commands in one batch run in
 * order against it, so a later command sees the profile or session an earlier one created.
 */
export class VisitLedger {
  readonly profiles = new Map<string, ProfileState>();
  /** Any known id (own or merged) → canonical profile id. */
  private readonly profileAliases = new Map<string, string>();
  readonly sessions = new Map<string, SessionState>();
  readonly newProfiles = new Set<string>();
  readonly changedProfiles = new Set<string>();
  readonly newSessions = new Set<string>();
  readonly changedSessions = new Set<string>();
  readonly events: EventRecord[] = [];
  /**
   * Profiles and sessions that some command of the batch asked to save. One with only
   * `options.saveProfile/saveSession: false` commands is processed, not written.
   */
  readonly savedProfiles = new Set<string>();
  readonly savedSessions = new Set<string>();

  constructor(profiles: ProfileState[], sessions: SessionState[]) {
    for (const profile of profiles) this.addProfile(profile);
    for (const session of sessions) this.sessions.set(session.id, session);
  }

  resolveProfile(id: string | undefined): ProfileState | undefined {
    const canonical = id === undefined ? undefined : this.profileAliases.get(id);
    return canonical === undefined ? undefined : this.profiles.get(canonical);
  }

  private addProfile(profile: ProfileState): void {
    this.profiles.set(profile.id, profile);
    this.profileAliases.set(profile.id, profile.id);
    for (const alias of profile.ids) this.profileAliases.set(alias, profile.id);
  }

  createProfile(now: Date): ProfileState {
    const profile: ProfileState = {
      id: timeOrderedId(now),
      ids: [],
      visits: 0,
      lastVisitAt: null,
      currentVisitAt: null,
      active: true,
      createdAt: now,
    };
    this.addProfile(profile);
    this.newProfiles.add(profile.id);
    return profile;
  }

  touchProfile(profile: ProfileState): void {
    if (!this.newProfiles.has(profile.id)) this.changedProfiles.add(profile.id);
  }

  touchSession(session: SessionState): void {
    if (!this.newSessions.has(session.id)) this.changedSessions.add(session.id);
  }
}

interface EventDraft {
  id?: string;
  type: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
  tags?: string[];
  metadata?: Record<string, unknown>;
  occurredAt: Date;
}

/**
 * Applies one /track command to the ledger: finds or creates the profile and session, emits the
 * system events of a new profile, a new session and a (re)started visit, and appends the events.
 * Pure apart from generating ids; `now` is the commit's clock.
 */
export function applyTrackCommand(ledger: VisitLedger, command: TrackCommand, now: Date): { profileId: string; sessionId: string; eventIds: string[] } {
  const existingSession = command.sessionId === undefined ? undefined : ledger.sessions.get(command.sessionId);
  let profile =
    ledger.resolveProfile(command.profileId) ??
    (existingSession ? ledger.resolveProfile(existingSession.profileId) : undefined);
  const systemEvents: string[] = [];
  if (!profile) {
    profile = ledger.createProfile(now);
    systemEvents.push(SystemEvent.profileCreated);
  }

  let session = existingSession;
  let visitStartedHere = false;
  if (!session) {
    session = {
      id: command.sessionId ?? timeOrderedId(now),
      profileId: profile.id,
      sourceId: command.sourceId,
      status: 'started',
      eventsCount: 0,
      visitStartedAt: now,
      visitEndedAt: null,
      lastEventAt: now,
      inactive: false,
      createdAt: now,
      facts: command.facts,
    };
    ledger.sessions.set(session.id, session);
    ledger.newSessions.add(session.id);
    systemEvents.push(SystemEvent.sessionOpened);
    startVisit(profile, now);
    visitStartedHere = true;
    systemEvents.push(SystemEvent.visitStarted);
  } else {
    if (session.profileId !== profile.id) session.profileId = profile.id;
    const deviceId = command.facts.device.id;
    if (deviceId !== undefined && session.facts.device.id !== deviceId) {
      session.facts = { ...session.facts, device: { ...session.facts.device, id: deviceId } };
    }
    ledger.touchSession(session);
  }

  const record = (draft: EventDraft, system: boolean): string => {
    const id = draft.id ?? timeOrderedId(now);
    ledger.events.push({
      id,
      type: draft.type,
      profileId: profile.id,
      sessionId: session.id,
      sourceId: command.sourceId,
      save: command.save.events,
      properties: draft.properties ?? {},
      traits: draft.traits ?? {},
      context: draft.context ?? {},
      tags: draft.tags ?? [],
      metadata: { ...draft.metadata, ...(system ? { system: true } : {}) },
      occurredAt: draft.occurredAt,
      insertedAt: now,
    });
    return id;
  };
  for (const type of systemEvents) record({ type, occurredAt: now, context: command.context }, true);

  const eventIds: string[] = [];
  for (const { id, type, event, time, traits } of command.events) {
    if (session.status === 'ended') {
      reopenVisit(session, now);
      startVisit(profile, now);
      visitStartedHere = true;
      record({ type: SystemEvent.visitStarted, occurredAt: now, context: command.context }, true);
    }
    eventIds.push(
      record(
        {
          id,
          type,
          properties: event.properties ?? undefined,
          traits,
          context: { ...command.context, ...event.context },
          tags: event.tags ?? undefined,
          metadata: event.options ? { options: event.options } : undefined,
          occurredAt: time,
        },
        false,
      ),
    );
    if (type === SystemEvent.visitEnded) {
      session.status = 'ended';
      session.visitEndedAt = now;
    } else if (session.status === 'started' && !visitStartedHere) {
      session.status = 'active';
    }
  }

  session.eventsCount += command.events.length;
  session.lastEventAt = now;
  session.inactive = false;
  profile.active = true;
  ledger.touchProfile(profile);
  if (command.save.profile) ledger.savedProfiles.add(profile.id);
  if (command.save.session) ledger.savedSessions.add(session.id);
  return { profileId: profile.id, sessionId: session.id, eventIds };
}

function startVisit(profile: ProfileState, now: Date): void {
  profile.visits += 1;
  profile.lastVisitAt = profile.currentVisitAt;
  profile.currentVisitAt = now;
}

function reopenVisit(session: SessionState, now: Date): void {
  session.status = 'started';
  session.visitStartedAt = now;
  session.visitEndedAt = null;
}
