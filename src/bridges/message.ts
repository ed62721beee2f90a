/**
 * A broker message → the /track body the collect entry takes. Pure: the adapters hand over bytes and
 * the broker's id for the message; what comes out is checked by the collect entry like any /track.
 */
import { createHash } from 'node:crypto';
import { readPath } from '../condition/path.js';
import { MISSING } from '../condition/values.js';
import { DomainError } from '../shared/errors.js';
import type { BridgeConfig } from './source-config.js';

export interface BridgeMessage {
  body: Buffer;
  /**
   * The broker's id for this message, the same on every redelivery (a stream sequence, an entry id,
   * a publisher's message id); undefined when the broker has none, and the body stands in for it.
   */
  brokerId: string | undefined;
}

/**
 * An event id that a redelivery of the same message derives again, so the event is stored once. It
 * is UUID-shaped (version 8, "custom") like the ids Meridian makes.
 */
export function derivedEventId(sourceId: string, message: BridgeMessage, index: number): string {
  const hash = createHash('sha256').update(sourceId).update('\n');
  if (message.brokerId !== undefined) hash.update('id\n').update(message.brokerId);
  else hash.update('body\n').update(message.body);
  const bytes = hash.update(`\n${index}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const refuse = (field: string, message: string) =>
  new DomainError('validation_failed', `${field}: ${message}`, [{ field, message }]);

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function parse(message: BridgeMessage): unknown {
  try {
    return JSON.parse(message.body.toString('utf8'));
  } catch (error) {
    throw refuse('message', `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function read(document: unknown, path: string[] | undefined): unknown {
  if (path === undefined) return undefined;
  const value = readPath(document, path);
  return value === MISSING || value === null ? undefined : value;
}

function idAt(document: unknown, path: string[] | undefined, name: string): string | undefined {
  const value = read(document, path);
  if (value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw refuse(`message.${path!.join('.')}`, `expected ${name} as a string`);
}

/**
 * `track`: the message is a /track body; without `source` it is this source's, and its events
 * without an id get one derived from the message. `event`: the message is one event, its type and
 * ids read from the configured paths or fixed. Refuses (`validation_failed`) what is not JSON or
 * lacks what the format needs; everything else is the collect entry's to check.
 */
export function toTrackPayload(message: BridgeMessage, sourceId: string, config: BridgeConfig): unknown {
  const document = parse(message);
  if (config.format === 'track') {
    if (!isObject(document)) throw refuse('message', 'expected a /track body (a JSON object)');
    const events = Array.isArray(document['events'])
      ? document['events'].map((event: unknown, index) =>
          isObject(event) && event['id'] === undefined
            ? { ...event, id: derivedEventId(sourceId, message, index) }
            : event,
        )
      : document['events'];
    return { ...document, source: document['source'] ?? { id: sourceId }, events };
  }
  const format = config.event;
  const type = format.eventType ?? idAt(document, format.eventTypePath, 'the event type');
  if (type === undefined) throw refuse(`message.${format.eventTypePath!.join('.')}`, 'the event type is missing');
  const profileId = format.profileId ?? idAt(document, format.profileIdPath, 'a profile id');
  const sessionId = format.sessionId ?? idAt(document, format.sessionIdPath, 'a session id');
  const properties = format.propertiesPath === undefined ? document : read(document, format.propertiesPath);
  if (properties !== undefined && !isObject(properties))
    throw refuse(
      format.propertiesPath ? `message.${format.propertiesPath.join('.')}` : 'message',
      'expected the event properties as a JSON object',
    );
  return {
    source: { id: sourceId },
    ...(profileId === undefined ? {} : { profile: { id: profileId } }),
    ...(sessionId === undefined ? {} : { session: { id: sessionId } }),
    events: [
      {
        id: idAt(document, format.eventIdPath, 'an event id') ?? derivedEventId(sourceId, message, 0),
        type,
        properties: properties ?? {},
      },
    ],
  };
}
