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
  createdAt: string;
  updatedAt: string;
}

export interface EventSourceRepository {
  get(id: string): Promise<EventSource | undefined>;
  list(): Promise<EventSource[]>;
  create(source: { id: string; name: string; description: string; enabled: boolean }): Promise<EventSource | undefined>;
  update(
    id: string,
    changes: { name: string; description: string; enabled: boolean },
  ): Promise<EventSource | undefined>;
  delete(id: string): Promise<boolean>;
}

export interface TrackingReadModel {
  profile(id: string): Promise<ProfileView | undefined>;
  session(id: string): Promise<SessionView | undefined>;
  events(query: EventQuery): Promise<EventPage>;
  deleteProfile(id: string): Promise<boolean>;
}
