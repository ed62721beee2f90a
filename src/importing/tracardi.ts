/**
 * Tracardi 0.8/0.9 exports: NDJSON dumps of the profile, session and event indices (one document a
 * line, bare or as Elasticsearch hits with `_id` and `_source`), turned into Meridian's profiles,
 * sessions and events with their ids, times and merged ids kept.
 *
 * Shapes, as Tracardi's `domain/profile.py`, `session.py` and `event.py` define them:
 * - profile: `id`, `ids` (its own id and those merged into it), `metadata.time.{insert, update,
 *   visit.{last, current, count}}`, `stats`, `traits`, `segments`, `consents`, `active`, `data`
 *   (0.9: `data.pii`, `data.contact`…; 0.8 keeps `pii` at the top);
 * - session: `id`, `profile.id`, `metadata.time.{insert, duration}`, `metadata.status`, `device`,
 *   `os`, `app`, `utm`, `context`, `properties`;
 * - event: `id`, `type`, `metadata.time.{insert, create}`, `profile.id`, `session.id`, `source.id`,
 *   `properties`, `traits`, `context`, `tags.values`; `profile` and `session` are optional (null in an
 *   event from a source that tracks no profile).
 */
import { MAX_ID_LENGTH, normalizeEventType } from '../tracking/payload.js';
import { RowRejected, type SourceRow } from './rows.js';

export const TRACARDI_INDICES = ['profile', 'session', 'event'] as const;
export type TracardiIndex = (typeof TRACARDI_INDICES)[number];

export interface ImportedProfile {
  id: string;
  /** Ids merged into this profile (Tracardi's `ids` less the profile's own). */
  ids: string[];
  traits: Record<string, unknown>;
  pii: Record<string, unknown>;
  data: Record<string, unknown>;
  stats: Record<string, unknown>;
  consents: Record<string, unknown>;
  segments: string[];
  metadata: Record<string, unknown>;
  active: boolean;
  visits: number;
  lastVisitAt: string | null;
  currentVisitAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ImportedSession {
  id: string;
  profileId: string;
  sourceId: string | null;
  device: Record<string, unknown>;
  os: Record<string, unknown>;
  app: Record<string, unknown>;
  context: Record<string, unknown>;
  metadata: Record<string, unknown>;
  createdAt: string;
  lastEventAt: string;
}

/** An event as it was: history, so it is stored as it is rather than tracked again (no visit reopens). */
export interface ImportedEvent {
  id: string;
  type: string;
  profileId: string | null;
  sessionId: string | null;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
  tags: string[];
  occurredAt: string;
  insertedAt: string;
}

const object = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((node, key) => object(node)[key], value);

/** The document of an Elasticsearch hit, or the line itself. */
function documentOf(row: SourceRow): Record<string, unknown> {
  if ('_source' in row) return { ...object(row['_source']), id: object(row['_source'])['id'] ?? row['_id'] };
  return row;
}

/** An id as /track takes one (ids are kept in btree and GIN indexes, whose entries PostgreSQL caps at about 2.7 kB). */
function idOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH)
    throw new RowRejected(`${field}: expected an id of 1 to ${MAX_ID_LENGTH} characters`);
  return value;
}

/** The id of an event's profile or session, null when there is none: the entity null or absent, or its id null. */
function entityIdOf(doc: Record<string, unknown>, entity: 'profile' | 'session'): string | null {
  if (doc[entity] === null || doc[entity] === undefined) return null;
  const id = object(doc[entity])['id'];
  // Tracardi's Event.dictionary writes an event without one as {id: null}.
  return id === null ? null : idOf(id, `${entity}.id`);
}

/** A Tracardi date-time (naive ones are UTC, as Tracardi writes them) as ISO; undefined when absent or not a date. */
function time(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = typeof value === 'string' && !/(Z|[+-]\d{2}:?\d{2})$/.test(value) ? `${value}Z` : value;
  const date = new Date(typeof text === 'number' && text < 2e10 ? text * 1000 : text);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * When Tracardi stored a document: `metadata.time.insert`, else its `create` (Tracardi's `Time` holds
 * both, either may be null), so that a document missing one is not lost for it.
 */
function insertTime(times: Record<string, unknown>): string {
  const parsed = time(times['insert']) ?? time(times['create']);
  if (parsed === undefined)
    throw new RowRejected('metadata.time.insert: expected a date-time (or metadata.time.create)');
  return parsed;
}

export function tracardiProfile(row: SourceRow): ImportedProfile {
  const doc = documentOf(row);
  const id = idOf(doc['id'], 'id');
  const listed: unknown[] = Array.isArray(doc['ids']) ? doc['ids'] : [];
  // Merged ids are ids too, kept in an index: a longer one rejects its profile, as its own id would.
  const overlong = listed.findIndex((each) => typeof each === 'string' && each.length > MAX_ID_LENGTH);
  if (overlong >= 0) throw new RowRejected(`ids.${overlong}: expected an id of at most ${MAX_ID_LENGTH} characters`);
  const ids = listed.filter((each): each is string => typeof each === 'string');
  const times = object(at(doc, 'metadata', 'time'));
  const data = object(doc['data']);
  const created = insertTime(times);
  const visits = Number(at(times, 'visit', 'count') ?? at(doc, 'stats', 'visits') ?? 0);
  return {
    id,
    ids: [...new Set(ids.filter((each) => each !== id))],
    traits: object(doc['traits']),
    pii: object(doc['pii'] ?? data['pii']),
    data,
    stats: object(doc['stats']),
    consents: object(doc['consents']),
    segments: Array.isArray(doc['segments']) ? doc['segments'].filter((s): s is string => typeof s === 'string') : [],
    metadata: { tracardi: { interests: doc['interests'] ?? {}, aux: doc['aux'] ?? {} } },
    active: doc['active'] !== false,
    visits: Number.isFinite(visits) ? Math.trunc(visits) : 0,
    lastVisitAt: time(at(times, 'visit', 'last')) ?? null,
    currentVisitAt: time(at(times, 'visit', 'current')) ?? null,
    createdAt: created,
    updatedAt: time(times['update']) ?? created,
  };
}

/**
 * The session's context with Tracardi's `utm` (kept beside the context, its parameters null when not
 * given) as `context.utm`, where /track keeps a session's UTM parameters and the API shows them.
 */
function withUtm(context: Record<string, unknown>, utm: Record<string, unknown>): Record<string, unknown> {
  const given = Object.entries(utm).filter(([, value]) => value !== null && value !== undefined && value !== '');
  return given.length === 0 || 'utm' in context ? context : { ...context, utm: Object.fromEntries(given) };
}

export function tracardiSession(row: SourceRow): ImportedSession {
  const doc = documentOf(row);
  const metadata = object(doc['metadata']);
  const times = object(metadata['time']);
  const created = insertTime(times);
  const duration = Number(times['duration'] ?? 0);
  const last = new Date(Date.parse(created) + (Number.isFinite(duration) ? duration * 1000 : 0)).toISOString();
  return {
    id: idOf(doc['id'], 'id'),
    profileId: idOf(at(doc, 'profile', 'id'), 'profile.id'),
    sourceId: typeof at(doc, 'source', 'id') === 'string' ? (at(doc, 'source', 'id') as string) : null,
    device: object(doc['device']),
    os: object(doc['os']),
    app: object(doc['app']),
    context: withUtm(object(doc['context']), object(doc['utm'])),
    metadata: {
      tracardi: { channel: metadata['channel'] ?? null, status: metadata['status'] ?? null },
      properties: object(doc['properties']),
    },
    createdAt: created,
    lastEventAt: last,
  };
}

/** The event with its id, type, times, properties, traits, context and tags kept. */
export function tracardiEvent(row: SourceRow): ImportedEvent {
  const doc = documentOf(row);
  const times = object(at(doc, 'metadata', 'time'));
  const inserted = insertTime(times);
  const tags = at(doc, 'tags', 'values');
  const type = doc['type'];
  if (typeof type !== 'string' || type.trim() === '' || type.length > 128)
    throw new RowRejected('type: expected an event type of 1 to 128 characters');
  return {
    id: idOf(doc['id'], 'id'),
    type: normalizeEventType(type),
    profileId: entityIdOf(doc, 'profile'),
    sessionId: entityIdOf(doc, 'session'),
    properties: object(doc['properties']),
    traits: object(doc['traits']),
    context: object(doc['context']),
    tags: Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : [],
    occurredAt: time(times['create']) ?? inserted,
    insertedAt: inserted,
  };
}
