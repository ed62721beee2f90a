/**
 * Redirects (Tracardi's redirect bridge): `GET /redirect/{id}` tracks the redirect's event, then
 * sends the client on to its URL. Pure: the checks of a saved redirect and the event it tracks.
 */
import { renderObjectTemplate } from '../condition/template.js';
import { DomainError, type FieldProblem } from '../shared/errors.js';
import { normalizeEventType } from '../tracking/payload.js';
import { oneEventPayload } from './webhook.js';

export interface RedirectFields {
  name: string;
  /** Where the client is sent (307): an absolute http or https URL. */
  url: string;
  eventType: string;
  sourceId: string;
  /**
   * The event's properties: a template whose `payload@params.NAME` values are read from the
   * redirect request's query string (missing ones become null); any other value is kept as it is.
   */
  properties: Record<string, unknown>;
}

export interface Redirect extends RedirectFields {
  id: string;
  createdAt: string;
  updatedAt: string;
}

export interface RedirectRepository {
  get(id: string): Promise<Redirect | undefined>;
  list(): Promise<Redirect[]>;
  /** Undefined when the id is taken. */
  create(redirect: { id: string } & RedirectFields): Promise<Redirect | undefined>;
  update(id: string, fields: RedirectFields): Promise<Redirect | undefined>;
  delete(id: string): Promise<boolean>;
}

/**
 * Checks what the schema cannot (the URL's scheme, the source's existence) and normalises the event
 * type as /track stores it, so that rules written for it match.
 */
export async function checkRedirect(
  fields: RedirectFields,
  sourceExists: (id: string) => Promise<boolean>,
): Promise<RedirectFields> {
  const problems: FieldProblem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(fields.url);
  } catch {
    problems.push({ field: 'url', message: 'expected an absolute URL (https://…)' });
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:')
    problems.push({ field: 'url', message: 'expected an http or https URL' });
  if (!(await sourceExists(fields.sourceId))) problems.push({ field: 'sourceId', message: 'event source not found' });
  if (problems.length > 0)
    throw new DomainError(
      'validation_failed',
      problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '),
      problems,
    );
  return { ...fields, eventType: normalizeEventType(fields.eventType) };
}

/** The /track body of one use of the redirect; `params` is the request's query string. */
export function redirectPayload(redirect: Redirect, sessionId: string | undefined, params: Record<string, unknown>) {
  const properties = renderObjectTemplate(redirect.properties, { payload: { params } }, { default: null });
  return oneEventPayload({
    sourceId: redirect.sourceId,
    eventType: redirect.eventType,
    sessionId,
    properties: properties as Record<string, unknown>,
  });
}
