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
  /**
   * New profiles and sessions whose system events (`profile-created`; `session-opened` and
   * `visit-started`) are not recorded yet: they come with the first command that stores them.
   */
  private readonly unannouncedProfiles = new Set<string>();
  private readonly unannouncedSessions = new Set<string>();

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

  createProfile(now: Date, id: string = timeOrderedId(now)): ProfileState {
    const profile: ProfileState = {
      id,
      ids: [],
      visits: 0,
      lastVisitAt: null,
      currentVisitAt: null,
      active: true,
      createdAt: now,
    };
    this.addProfile(profile);
    this.newProfiles.add(profile.id);
    this.unannouncedProfiles.add(profile.id);
    return profile;
  }

  addSession(session: SessionState): void {
    this.sessions.set(session.id, session);
    this.newSessions.add(session.id);
    this.unannouncedSessions.add(session.id);
  }

  /** True once per new profile: when a command first stores it. */
  announceProfile(profileId: string): boolean {
    return this.isProfileStored(profileId) && this.unannouncedProfiles.delete(profileId);
  }

  announceSession(sessionId: string): boolean {
    return this.isSessionStored(sessionId) && this.unannouncedSessions.delete(sessionId);
  }

  /** Whether the profile is in the store already, or will be when the batch commits. */
  isProfileStored(profileId: string): boolean {
    return !this.newProfiles.has(profileId) || this.savedProfiles.has(profileId);
  }

  isSessionStored(sessionId: string): boolean {
    return !this.newSessions.has(sessionId) || this.savedSessions.has(sessionId);
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
 *
 * Nothing stored points at what is not stored. With `saveProfile: false` a new profile is not
 * created: no `profile-created`, no session (a session belongs to a profile), and the events are
 * stored without profile or session (Tracardi's profile-less events). An existing profile is left as
 * it was and its events still point at it. With `saveSession: false` a new session is not stored
 * and its events carry no session.
 */
export function applyTrackCommand(
  ledger: VisitLedger,
  command: TrackCommand,
  now: Date,
): { profileId: string; sessionId: string; eventIds: string[] } {
  const existingSession = command.sessionId === undefined ? undefined : ledger.sessions.get(command.sessionId);
  let profile =
    ledger.resolveProfile(command.profileId) ??
    (existingSession ? ledger.resolveProfile(existingSession.profileId) : undefined);
  profile ??= ledger.createProfile(now, command.staticProfileId ? command.profileId : undefined);
  if (command.save.profile) ledger.savedProfiles.add(profile.id);
  const profileStored = ledger.isProfileStored(profile.id);
  const systemEvents: string[] = ledger.announceProfile(profile.id) ? [SystemEvent.profileCreated] : [];

  let session = existingSession;
  let visitStartedHere = false;
  if (!session) {
    session = openedSession(command.sessionId ?? timeOrderedId(now), profile.id, command.sourceId, command.facts, now);
    ledger.addSession(session);
    startVisit(profile, now);
    visitStartedHere = true;
  } else {
    if (session.profileId !== profile.id) session.profileId = profile.id;
    const deviceId = command.facts.device.id;
    if (deviceId !== undefined && session.facts.device.id !== deviceId) {
      session.facts = { ...session.facts, device: { ...session.facts.device, id: deviceId } };
    }
    ledger.touchSession(session);
  }
  if (command.save.session && profileStored) ledger.savedSessions.add(session.id);
  const sessionStored = ledger.isSessionStored(session.id);
  const sessionId = session.id;
  if (ledger.announceSession(session.id)) systemEvents.push(SystemEvent.sessionOpened, SystemEvent.visitStarted);

  const record = (draft: EventDraft, system: boolean): string => {
    const id = draft.id ?? timeOrderedId(now);
    ledger.events.push({
      id,
      type: draft.type,
      profileId: profileStored ? profile.id : null,
      sessionId: sessionStored ? sessionId : null,
      sourceId: command.sourceId,
      save: command.save.events,
      properties: draft.properties ?? {},
      traits: draft.traits ?? {},
      context: draft.context ?? {},
      tags: draft.tags ?? [],
      metadata: { ...draft.metadata, ...(system ? { system: true } : {}) },
      ...(command.runFlows === false ? { runFlows: false as const } : {}),
      occurredAt: draft.occurredAt,
      insertedAt: now,
    });
    return id;
  };
  // A system event occurs no later than the events that caused it, so a timeline newest first by
  // occurred time shows it below them even when their time (the tracker's clock) is behind ours.
  const causedBy = (...times: Date[]) => new Date(Math.min(now.getTime(), ...times.map((time) => time.getTime())));
  const requestOpenedAt = causedBy(...command.events.map((event) => event.time));
  for (const type of systemEvents) record({ type, occurredAt: requestOpenedAt, context: command.context }, true);

  const eventIds: string[] = [];
  for (const { id, type, event, time, traits } of command.events) {
    if (session.status === 'ended') {
      reopenVisit(session, now);
      startVisit(profile, now);
      visitStartedHere = true;
      record({ type: SystemEvent.visitStarted, occurredAt: causedBy(time), context: command.context }, true);
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

  session.lastEventAt = now;
  session.inactive = false;
  profile.active = true;
  ledger.touchProfile(profile);
  return { profileId: profile.id, sessionId: session.id, eventIds };
}

/** A session opened at `now`, its visit started, no event counted yet. */
export function openedSession(
  id: string,
  profileId: string,
  sourceId: string,
  facts: SessionState['facts'],
  now: Date,
): SessionState {
  return {
    id,
    profileId,
    sourceId,
    status: 'started',
    eventsCount: 0,
    visitStartedAt: now,
    visitEndedAt: null,
    lastEventAt: now,
    inactive: false,
    createdAt: now,
    facts,
  };
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
