/**
 * Applying mappings to one event: pure functions over documents, shared by collection time (the
 * /track pipeline) and backfills, so both produce exactly the same result.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  compileCondition,
  deleteDotPath,
  documentFromRow,
  DEFAULT_SQL_MAPPING,
  DotPathError,
  readDotPathOr,
  writeDotPath,
  type CompiledCondition,
  type DotContext,
} from '../condition/index.js';
import { WRITABLE_PROFILE_PARTS, type Mapping, type ProfileCopy, type WritableProfilePart } from './mapping.js';

/** An event as conditions see it (`event@…`): see eventDocument. */
export type EventDocument = Record<string, unknown> & { id: string; type: string; traits?: Record<string, unknown> };

/** A profile as conditions see it (`profile@…`); mappings change only its writable parts. */
export type ProfileDocument = Record<string, unknown> & Record<WritableProfilePart, Record<string, unknown>>;

export interface MappingFailure {
  mappingId: string;
  message: string;
}

const MISSING = Symbol('missing');

/** Builds the event document from an event's fields, the same shape the SQL compiler reads. */
export function eventDocument(event: {
  id: string;
  type: string;
  profileId?: string | null;
  sessionId?: string | null;
  sourceId: string;
  properties: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context: Record<string, unknown>;
  tags: string[];
  occurredAt: Date;
  insertedAt: Date;
}): EventDocument {
  return documentFromRow(DEFAULT_SQL_MAPPING.event!, {
    id: event.id,
    type: event.type,
    profile_id: event.profileId ?? null,
    session_id: event.sessionId ?? null,
    source_id: event.sourceId,
    properties: event.properties,
    traits: event.traits ?? {},
    context: event.context,
    tags: event.tags,
    occurred_at: event.occurredAt,
    inserted_at: event.insertedAt,
  }) as EventDocument;
}

function appliesTo<K extends Mapping['kind']>(
  mapping: Mapping,
  kind: K,
  event: EventDocument,
): mapping is Extract<Mapping, { kind: K }> {
  return mapping.kind === kind && mapping.enabled && mapping.eventType === event.type;
}

const readEvent = (event: EventDocument, path: string): unknown => readDotPathOr({ event }, `event@${path}`, MISSING);

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The event's traits after its event-props-to-traits mappings: the event's own traits with each
 * mapped value copied in (a source the event lacks copies nothing). The event is not changed.
 */
export function propsToTraits(
  event: EventDocument,
  mappings: readonly Mapping[],
): { traits: Record<string, unknown>; failed: MappingFailure[] } {
  const target: DotContext = { event: { traits: structuredClone(event.traits ?? {}) } };
  const failed: MappingFailure[] = [];
  for (const mapping of mappings) {
    if (!appliesTo(mapping, 'event-props-to-traits', event)) continue;
    for (const [source, traitPath] of Object.entries(mapping.mapping)) {
      const value = readEvent(event, source);
      if (value === MISSING) continue;
      try {
        writeDotPath(target, `event@${traitPath}`, structuredClone(value));
      } catch (error) {
        if (!(error instanceof DotPathError)) throw error;
        failed.push({ mappingId: mapping.id, message: error.message });
      }
    }
  }
  return { traits: (target.event as { traits: Record<string, unknown> }).traits, failed };
}

export interface ProfileMappingResult {
  /** Whether the profile's writable parts now differ. */
  changed: boolean;
  /** Ids of the mappings whose condition held and whose copies were all applied. */
  applied: string[];
  /** Mappings that could not be applied (e.g. a target under a value that is not an object); they changed nothing. */
  failed: MappingFailure[];
}

const conditions = new WeakMap<Mapping, CompiledCondition>();

function conditionHolds(mapping: Mapping, context: DotContext): boolean {
  if (!mapping.condition) return true;
  let compiled = conditions.get(mapping);
  if (!compiled) conditions.set(mapping, (compiled = compileCondition(mapping.condition)));
  return compiled.evaluate(context);
}

/**
 * Applies the event's event-to-profile mappings, in order, to `profile` (a working copy: its
 * writable parts are replaced). Each mapping applies whole or not at all.
 */
export function applyToProfile(
  profile: ProfileDocument,
  event: EventDocument,
  session: Record<string, unknown> | undefined,
  mappings: readonly Mapping[],
): ProfileMappingResult {
  const result: ProfileMappingResult = { changed: false, applied: [], failed: [] };
  for (const mapping of mappings) {
    if (!appliesTo(mapping, 'event-to-profile', event)) continue;
    if (!conditionHolds(mapping, { event, profile, session })) continue;
    const draft = Object.fromEntries(
      WRITABLE_PROFILE_PARTS.map((part) => [part, structuredClone(profile[part] ?? {})]),
    );
    let changed = false;
    try {
      for (const copy of mapping.mapping) changed = applyCopy(draft, event, copy) || changed;
    } catch (error) {
      if (!(error instanceof DotPathError)) throw error;
      result.failed.push({ mappingId: mapping.id, message: describe(error) });
      continue;
    }
    Object.assign(profile, draft);
    result.applied.push(mapping.id);
    result.changed ||= changed;
  }
  return result;
}

/** Writes unless the target already holds an equal value; returns whether it wrote. */
function write(context: DotContext, target: string, current: unknown, value: unknown): boolean {
  if (current !== MISSING && isDeepStrictEqual(current, value)) return false;
  writeDotPath(context, target, structuredClone(value));
  return true;
}

/** One op on the draft profile; returns whether it changed it. */
function applyCopy(draft: Record<string, unknown>, event: EventDocument, copy: ProfileCopy): boolean {
  const context: DotContext = { profile: draft };
  const target = `profile@${copy.profile}`;
  const current = readDotPathOr(context, target, MISSING);
  const value = copy.event === undefined ? MISSING : readEvent(event, copy.event);
  const absent = current === MISSING || current === null;
  switch (copy.op) {
    case 'equals':
      return value !== MISSING && write(context, target, current, value);
    case 'equals_if_not_exists':
      return value !== MISSING && absent && write(context, target, current, value);
    case 'append': {
      if (value === MISSING) return false;
      // A list value appends each item; an item already in the list is not added again.
      const list = absent ? [] : Array.isArray(current) ? [...current] : [current];
      for (const item of Array.isArray(value) ? value : [value]) {
        if (!list.some((present) => isDeepStrictEqual(present, item))) list.push(item);
      }
      return write(context, target, current, list);
    }
    case 'increment':
    case 'decrement': {
      const base = absent ? 0 : current;
      // A counter is never clobbered: a target holding something else than a number is left alone.
      if (typeof base !== 'number') return false;
      const step = typeof value === 'number' && Number.isFinite(value) ? value : 1;
      return write(context, target, current, copy.op === 'increment' ? base + step : base - step);
    }
    case 'delete':
      return deleteDotPath(context, target);
  }
}
