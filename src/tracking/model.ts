import type { Mapping } from '../mapping/mapping.js';
import type { SessionFacts } from './enrich.js';
import type { EventProblem, TrackedEvent } from './payload.js';

export type SessionStatus = 'started' | 'active' | 'ended';

/** The part of a profile that collection reads and changes. */
export interface ProfileState {
  id: string;
  ids: string[];
  visits: number;
  lastVisitAt: Date | null;
  currentVisitAt: Date | null;
  active: boolean;
  createdAt: Date;
}

/** The part of a session that collection reads and changes. */
export interface SessionState {
  id: string;
  profileId: string;
  sourceId: string | null;
  status: SessionStatus;
  /** Counted by the store from the events its insert actually stored, so a repeated event id counts once. */
  eventsCount: number;
  visitStartedAt: Date;
  visitEndedAt: Date | null;
  lastEventAt: Date;
  inactive: boolean;
  createdAt: Date;
  facts: SessionFacts;
}

export interface ValidEvent {
  index: number;
  /** The client's id, or one given on arrival. */
  id: string;
  /** Normalised (`Page View` → `page-view`). */
  type: string;
  event: TrackedEvent;
  time: Date;
  /** The event's traits after its event-props-to-traits mappings. */
  traits: Record<string, unknown>;
  /** Event-to-profile mappings for this event type, applied when the batch commits. */
  profileMappings: readonly Mapping[];
}

/** One /track call after validation: what the store needs to commit it. */
export interface TrackCommand {
  requestId: string;
  sourceId: string;
  profileId?: string;
  /** A profile unknown by `profileId` is created with that id (a Segment userId) instead of a new one. */
  staticProfileId?: boolean;
  sessionId?: string;
  facts: SessionFacts;
  /** Request-level context, merged under each event's own context. */
  context: Record<string, unknown>;
  events: ValidEvent[];
  save: { session: boolean; events: boolean; profile: boolean };
  /** Events that failed validation; reported back, never stored. */
  problems: EventProblem[];
  /** false: its events (system events included) start no workflow rule. */
  runFlows?: false;
}

export interface EventRecord {
  id: string;
  type: string;
  /** Null when the profile is not stored (`options.saveProfile: false` for a new visitor). */
  profileId: string | null;
  /** Null when the session is not stored. */
  sessionId: string | null;
  sourceId: string;
  /** false when the command said `options.saveEvents: false`: processed, not stored. */
  save: boolean;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
  tags: string[];
  metadata: Record<string, unknown>;
  /** false: the event starts no workflow rule. */
  runFlows?: false;
  occurredAt: Date;
  insertedAt: Date;
}

/** A workflow run finished inside the commit of its event, with what it answers (`response` and `ux` actions). */
export interface InlineRunAnswer {
  id: string;
  response: Record<string, unknown>;
  ux: unknown[];
}

export interface TrackOutcome {
  profileId: string;
  sessionId: string;
  /** Ids of the events the request asked to store (system events excluded). */
  eventIds: string[];
  /** Client event ids that were already stored before: kept once, reported as warnings. */
  duplicateEventIds: string[];
  /** Mappings that could not be applied to this batch's events. */
  warnings: string[];
  /** The workflow runs of its events the commit finished itself. */
  inlineRuns: InlineRunAnswer[];
}

/** The system events Tracardi emits as a visit unfolds. */
export const SystemEvent = {
  profileCreated: 'profile-created',
  sessionOpened: 'session-opened',
  visitStarted: 'visit-started',
  visitEnded: 'visit-ended',
} as const;
