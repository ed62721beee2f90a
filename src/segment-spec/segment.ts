/**
 * The Segment HTTP Tracking API's calls as /track bodies for the collect entry. Pure; the routes in
 * `api/routes/segment.ts` only authenticate and read the request.
 *
 * A call's profile id is its `userId`, else its `anonymousId`, and the profile is created with that id
 * when unknown (so `GET /profiles/{userId}` finds it); `alias` merges `previousId`'s profile into
 * `userId`'s, after which both ids name the survivor.
 */
import { createHash } from 'node:crypto';
import type { Mapping, ProfileCopy } from '../mapping/mapping.js';
import { DomainError } from '../shared/errors.js';
import { normalizeEventType } from '../tracking/payload.js';

export const SEGMENT_CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentCallType = (typeof SEGMENT_CALL_TYPES)[number];

/** Segment's limits: a call, and a whole batch request. */
export const MAX_CALL_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;

/** Calls of one person without a session of their own share one per this window. */
export const SESSION_WINDOW_MS = 30 * 60 * 1000;

/** One call, mapped: the /track body, the call's own profile mappings, and an alias's merge. */
export interface MappedCall {
  payload: Record<string, unknown>;
  profileMappings: readonly Mapping[];
  /** For `alias`: the profile ids to merge (the previous one into the user's). */
  merge?: { previousId: string; userId: string };
}

type Call = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const invalid = (field: string, message: string) =>
  new DomainError('validation_failed', `${field}: ${message}`, [{ field, message }]);

const ID_LIMIT = 128;

function optionalId(call: Call, field: string, prefix: string): string | undefined {
  const value = call[field];
  if (value === undefined || value === null || value === '') return undefined;
  // Segment clients send numeric ids as numbers sometimes; they name the same person as their text.
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length > ID_LIMIT || value.includes('\u0000'))
    throw invalid(`${prefix}${field}`, `expected a string of 1 to ${ID_LIMIT} characters`);
  return value;
}

function optionalObject(call: Call, field: string, prefix: string): Record<string, unknown> {
  const value = call[field];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw invalid(`${prefix}${field}`, 'expected an object');
  return value;
}

function requiredText(call: Call, field: string, prefix: string): string {
  const value = call[field];
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(`${prefix}${field}`, 'expected a non-empty string');
  return value;
}

/** The session of a person's calls in one window: the same id for every call of that window. */
export function derivedSessionId(profileId: string, time: Date): string {
  const window = Math.floor(time.getTime() / SESSION_WINDOW_MS);
  return `seg-${createHash('sha256').update(`${profileId}\u0000${window}`).digest('hex').slice(0, 32)}`;
}

/** A trait name that is one key of a dot path; others stay on the event only. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Copies the call's traits onto the profile: each plain trait under `traits.`, an email also to `pii.email`. */
function traitsMapping(type: string, eventType: string, traits: Record<string, unknown>): Mapping[] {
  const copies: ProfileCopy[] = Object.keys(traits)
    .filter((key) => PLAIN_KEY.test(key))
    .map((key) => ({ event: `properties.traits.${key}`, profile: `traits.${key}`, op: 'equals' }));
  // pii.email is an identity key by default (IDENTITY_KEYS): the email identifies, merging as identity does.
  if (typeof traits.email === 'string')
    copies.push({ event: 'properties.traits.email', profile: 'pii.email', op: 'equals' });
  return copies.length === 0 ? [] : [builtInMapping(type, eventType, copies)];
}

function builtInMapping(name: string, eventType: string, mapping: ProfileCopy[]): Mapping {
  const epoch = new Date(0).toISOString();
  return {
    id: `segment:${name}`,
    name: `Segment ${name}`,
    kind: 'event-to-profile',
    eventType,
    enabled: true,
    condition: null,
    mapping,
    createdAt: epoch,
    updatedAt: epoch,
  };
}

/**
 * One Segment call (`type` from the route, or the batch item's own) as a /track body for the given
 * event source. `context` is the batch's, under the call's own. Throws `validation_failed` naming the field.
 */
export function mapCall(
  raw: unknown,
  options: { sourceId: string; type?: SegmentCallType; context?: Record<string, unknown>; now: Date; prefix?: string },
): MappedCall {
  const prefix = options.prefix ?? '';
  if (!isObject(raw)) throw invalid(prefix.replace(/\.$/, '') || 'body', 'expected a JSON object');
  const call = raw;
  const type = options.type ?? call.type;
  if (typeof type !== 'string' || !(SEGMENT_CALL_TYPES as readonly string[]).includes(type))
    throw invalid(`${prefix}type`, `expected one of ${SEGMENT_CALL_TYPES.join(', ')}`);
  const userId = optionalId(call, 'userId', prefix);
  const anonymousId = optionalId(call, 'anonymousId', prefix);
  const profileId = userId ?? anonymousId;
  if (profileId === undefined) throw invalid(`${prefix}userId`, 'userId or anonymousId is required');
  const messageId = optionalId(call, 'messageId', prefix);
  const context = { ...options.context, ...optionalObject(call, 'context', prefix) };
  const properties = optionalObject(call, 'properties', prefix);
  const traits = optionalObject(call, 'traits', prefix);
  const time = call.timestamp ?? call.originalTimestamp ?? call.sentAt;

  let eventType: string;
  let eventProperties: Record<string, unknown>;
  let profileMappings: Mapping[] = [];
  let merge: MappedCall['merge'];
  switch (type as SegmentCallType) {
    case 'track':
      eventType = normalizeEventType(requiredText(call, 'event', prefix));
      eventProperties = properties;
      break;
    case 'page':
    case 'screen': {
      eventType = `${type}-view`;
      const name = call.name;
      eventProperties = typeof name === 'string' ? { name, ...properties } : properties;
      break;
    }
    case 'identify':
      eventType = 'identify';
      // Segment's older clients put identify traits in context.traits.
      eventProperties = { traits: Object.keys(traits).length > 0 ? traits : optionalObject(context, 'traits', '') };
      profileMappings = traitsMapping(type, eventType, eventProperties.traits as Record<string, unknown>);
      break;
    case 'group': {
      eventType = 'group';
      const groupId = optionalId(call, 'groupId', prefix);
      if (groupId === undefined) throw invalid(`${prefix}groupId`, 'expected a string of 1 to 128 characters');
      eventProperties = { groupId, traits };
      profileMappings = [
        builtInMapping(type, eventType, [{ event: 'properties.groupId', profile: 'traits.groups', op: 'append' }]),
      ];
      break;
    }
    case 'alias': {
      eventType = 'alias';
      const previousId = optionalId(call, 'previousId', prefix);
      if (previousId === undefined) throw invalid(`${prefix}previousId`, 'expected a string of 1 to 128 characters');
      if (userId === undefined) throw invalid(`${prefix}userId`, 'an alias needs the userId');
      eventProperties = { previousId };
      if (previousId !== userId) merge = { previousId, userId };
      break;
    }
  }
  const occurredAt = typeof time === 'string' || typeof time === 'number' ? new Date(time) : options.now;
  const sessionTime = Number.isNaN(occurredAt.getTime()) ? options.now : occurredAt;
  const sessionId =
    typeof context.sessionId === 'string' ? context.sessionId : derivedSessionId(profileId, sessionTime);
  const integrations = call.integrations;
  return {
    payload: {
      source: { id: options.sourceId },
      profile: { id: profileId },
      session: { id: sessionId },
      context,
      events: [
        {
          type: eventType,
          ...(messageId === undefined ? {} : { id: messageId }),
          properties: eventProperties,
          ...(time === undefined ? {} : { time }),
          context: {
            segment: {
              type,
              ...(userId === undefined ? {} : { userId }),
              ...(anonymousId === undefined ? {} : { anonymousId }),
              ...(isObject(integrations) ? { integrations } : {}),
            },
          },
        },
      ],
    },
    profileMappings,
    ...(merge ? { merge } : {}),
  };
}

/** A batch request's calls, each mapped on its own (`batch.3.event` names a bad field). */
export function mapBatch(raw: unknown, options: { sourceId: string; now: Date }): MappedCall[] {
  if (!isObject(raw)) throw invalid('body', 'expected a JSON object');
  const batch = raw.batch;
  if (!Array.isArray(batch) || batch.length === 0) throw invalid('batch', 'expected a non-empty list of calls');
  const context = optionalObject(raw, 'context', '');
  return batch.map((call, index) => {
    const prefix = `batch.${index}.`;
    if (isObject(call) && Buffer.byteLength(JSON.stringify(call)) > MAX_CALL_BYTES)
      throw invalid(`batch.${index}`, `a call may hold at most ${MAX_CALL_BYTES} bytes`);
    return mapCall(call, { ...options, context, prefix });
  });
}
