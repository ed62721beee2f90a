import type { TrackCommand, TrackOutcome } from './model.js';
import type { EventPage, EventQuery, ProfileView, SessionView } from './views.js';

/** Commits a batch of /track commands atomically: all are durably stored, or none. */
export interface TrackingStore {
  commit(commands: TrackCommand[], now: Date): Promise<TrackOutcome[]>;
}

export interface EventSource {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  /** `rest`, or the broker kind a bridge consumes (`bridges/source-config.ts`). */
  type: string;
  /** The broker connection and message format of a bridge source; `{}` for `rest`. */
  config: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface EventSourceFields {
  name: string;
  description: string;
  enabled: boolean;
  type: string;
  config: Record<string, unknown>;
}

export interface EventSourceRepository {
  get(id: string): Promise<EventSource | undefined>;
  list(): Promise<EventSource[]>;
  create(source: { id: string } & EventSourceFields): Promise<EventSource | undefined>;
  update(id: string, changes: EventSourceFields): Promise<EventSource | undefined>;
  delete(id: string): Promise<boolean>;
}

export interface TrackingReadModel {
  profile(id: string): Promise<ProfileView | undefined>;
  session(id: string): Promise<SessionView | undefined>;
  events(query: EventQuery): Promise<EventPage>;
  deleteProfile(id: string): Promise<boolean>;
}
