/**
 * Tracardi's HTTP bridges, as /track bodies for the collect entry: the webhook bridge (a request's
 * JSON, form or query string is one event's properties) and the redirect bridge (a configured event,
 * then a redirect). Pure; the routes in `api/routes/collect.ts` only read the request.
 */
import { DomainError } from '../shared/errors.js';

export interface OneEvent {
  sourceId: string;
  eventType: string;
  /** With a session id, the event goes to that session and its profile (both made when unknown). */
  sessionId: string | undefined;
  properties: Record<string, unknown>;
}

/**
 * One event as a /track body. Without a session id it is profile-less, as in Tracardi: stored
 * without profile or session (`saveProfile` and `saveSession` false), so that a tool calling a
 * webhook a thousand times does not leave a thousand one-event profiles behind.
 */
export function oneEventPayload({ sourceId, eventType, sessionId, properties }: OneEvent): unknown {
  return {
    source: { id: sourceId },
    ...(sessionId === undefined
      ? { options: { saveSession: false, saveProfile: false } }
      : { session: { id: sessionId } }),
    events: [{ type: eventType, properties }],
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A request body as event properties: a JSON object (or a parsed form); nothing else. */
export function bodyProperties(body: unknown): Record<string, unknown> {
  if (isObject(body)) return { ...body };
  throw new DomainError('validation_failed', 'body: expected a JSON object or a form', [
    { field: 'body', message: 'expected a JSON object or a form (application/x-www-form-urlencoded)' },
  ]);
}

/** A form or query string as properties; a name sent more than once gives a list of its values. */
export function formProperties(text: string): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const previous = Object.hasOwn(properties, name) ? properties[name] : undefined;
    const next = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
    // defineProperty, so that a "__proto__" name stays data instead of replacing the prototype.
    Object.defineProperty(properties, name, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return properties;
}
