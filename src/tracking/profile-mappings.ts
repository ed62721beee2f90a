import { DEFAULT_SQL_MAPPING, documentFromRow } from '../condition/index.js';
import { applyToProfile, eventDocument, type ProfileDocument } from '../mapping/apply.js';
import { WRITABLE_PROFILE_PARTS } from '../mapping/mapping.js';
import type { EventRecord, ProfileState, SessionState, TrackCommand } from './model.js';
import type { VisitLedger } from './visit.js';

export interface ProfileMappingOutcome {
  /** Profiles whose writable parts changed, with their new documents. */
  changed: Map<string, ProfileDocument>;
  /** (mapping, event) pairs applied: recorded so a backfill never applies them again. */
  applied: { mappingId: string; eventId: string }[];
  /** Per command: the mappings that could not be applied to its events. */
  warnings: string[][];
}

export function emptyProfileDocument(id: string): ProfileDocument {
  return { id, ...Object.fromEntries(WRITABLE_PROFILE_PARTS.map((part) => [part, {}])) } as unknown as ProfileDocument;
}

/**
 * A profile as flows see it (`profile@…`), whole: its stored document (or an empty one for a new
 * profile) with what the commit's visit rules made of its state.
 */
export function wholeProfileDocument(
  state: ProfileState,
  stored: ProfileDocument | undefined,
  now: Date,
): Record<string, unknown> {
  const document = stored ?? emptyProfileDocument(state.id);
  const metadata = (document.metadata as Record<string, unknown> | undefined) ?? {};
  const time = (metadata.time as Record<string, unknown> | undefined) ?? {};
  const iso = (date: Date | null) => date?.toISOString() ?? null;
  return {
    ...document,
    id: state.id,
    ids: state.ids,
    segments: (document.segments as string[] | undefined) ?? [],
    active: state.active,
    metadata: {
      ...metadata,
      time: {
        ...time,
        create: iso(state.createdAt),
        update: iso(now),
        visit: { last: iso(state.lastVisitAt), current: iso(state.currentVisitAt), count: state.visits },
      },
    },
  };
}

/** A session as conditions and flows see it (`session@…`), from its state in the commit. */
export function sessionDocument(session: SessionState | undefined): Record<string, unknown> | undefined {
  if (!session) return undefined;
  return documentFromRow(DEFAULT_SQL_MAPPING.session!, {
    id: session.id,
    profile_id: session.profileId,
    context: session.facts.context,
    device: session.facts.device,
    os: session.facts.os,
    app: session.facts.app,
    metadata: {},
    created_at: session.createdAt,
    last_event_at: session.lastEventAt,
  });
}

/**
 * Applies each new event's event-to-profile mappings to its profile, in arrival order, at commit
 * time (the profiles are locked). Events already stored before (a repeated client id) and
 * profiles not to be saved are left alone.
 */
export function applyProfileMappings(
  ledger: VisitLedger,
  commands: readonly TrackCommand[],
  applied: readonly { profileId: string; sessionId: string }[],
  documents: Map<string, ProfileDocument>,
  alreadyStored: ReadonlySet<string>,
): ProfileMappingOutcome {
  const outcome: ProfileMappingOutcome = { changed: new Map(), applied: [], warnings: commands.map(() => []) };
  const records = new Map<string, EventRecord>(ledger.events.map((event) => [event.id, event]));
  const seen = new Set<string>();
  commands.forEach((command, index) => {
    const { profileId, sessionId } = applied[index]!;
    if (!ledger.savedProfiles.has(profileId)) return;
    for (const event of command.events) {
      if (event.profileMappings.length === 0 || alreadyStored.has(event.id) || seen.has(event.id)) continue;
      seen.add(event.id);
      const record = records.get(event.id)!;
      let document = documents.get(profileId);
      if (!document) documents.set(profileId, (document = emptyProfileDocument(profileId)));
      const result = applyToProfile(
        document,
        eventDocument(record),
        sessionDocument(ledger.sessions.get(sessionId)),
        event.profileMappings,
      );
      if (result.changed) outcome.changed.set(profileId, document);
      for (const mappingId of result.applied) outcome.applied.push({ mappingId, eventId: event.id });
      for (const failure of result.failed)
        outcome.warnings[index]!.push(
          `mapping ${failure.mappingId} not applied to event ${event.id}: ${failure.message}`,
        );
    }
  });
  return outcome;
}
