import { DomainError, type FieldProblem } from '../shared/errors.js';
import { normalizeEventType } from '../tracking/payload.js';
import { readPath } from './keys.js';

/**
 * An identification point (Tracardi's): when an event of this type (from this source, if given) is
 * collected, the values at `fields[].event` are copied to the profile at `fields[].profile`, and the
 * profile is merged with any profile holding them as identity keys.
 */
export interface IdentificationPoint {
  id: string;
  name: string;
  eventType: string;
  sourceId: string | null;
  fields: { event: string; profile: string }[];
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export type PointInput = Pick<IdentificationPoint, 'name' | 'eventType' | 'sourceId' | 'fields' | 'enabled'>;

const EVENT_PARTS = ['properties', 'traits', 'context'];
const PROFILE_PARTS = ['traits', 'pii', 'data'];
const PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)+$/;

/**
 * Refuses paths that read nothing an event has, or write outside a profile's traits, pii and data;
 * the event type is kept as /track stores types ("Log In" → "log-in").
 */
export function checkPoint(input: PointInput): PointInput {
  const problems: FieldProblem[] = [];
  input.fields.forEach((field, index) => {
    if (!PATH.test(field.event) || !EVENT_PARTS.includes(field.event.split('.')[0]!)) {
      problems.push({ field: `fields/${index}/event`, message: `expected a path under ${EVENT_PARTS.join(', ')}` });
    }
    if (!PATH.test(field.profile) || !PROFILE_PARTS.includes(field.profile.split('.')[0]!)) {
      problems.push({
        field: `fields/${index}/profile`,
        message: `expected a path under ${PROFILE_PARTS.join(', ')}`,
      });
    }
  });
  if (problems.length > 0) throw new DomainError('validation_failed', 'invalid identification point', problems);
  return { ...input, eventType: normalizeEventType(input.eventType) };
}

export interface PointEvent {
  type: string;
  sourceId: string;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
}

/** The points an event meets. */
export function pointsFor(points: readonly IdentificationPoint[], event: { type: string; sourceId: string }) {
  return points.filter(
    (point) => point.enabled && point.eventType === event.type && (point.sourceId ?? event.sourceId) === event.sourceId,
  );
}

/** What the event's points copy to its profile: `[profile path, value]`, the values the event has. */
export function pointValues(points: readonly IdentificationPoint[], event: PointEvent): [string, unknown][] {
  const values: [string, unknown][] = [];
  for (const point of pointsFor(points, event)) {
    for (const field of point.fields) {
      const value = readPath(event, field.event);
      if (value !== undefined && value !== null) values.push([field.profile, value]);
    }
  }
  return values;
}
