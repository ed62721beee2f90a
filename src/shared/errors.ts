/**
 * Errors a capability raises for its caller. A capability names what went wrong with a stable code
 * from a closed list; it knows nothing of HTTP: `src/api/error-handler.ts` maps each code to a
 * status in one table and writes the JSON body `{error, message, detail, details}`.
 */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The stable codes; each is the `error` string of the JSON answer, so renaming one breaks clients. */
export const ERROR_CODES = [
  'bad_request',
  'validation_failed',
  'invalid_source',
  'invalid_events',
  'invalid_condition',
  'not_found',
  'conflict',
  'mapping_disabled',
  'queue_unavailable',
  'merge_refused',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The offending fields, each with what is expected. */
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalidInput = (message: string, details: FieldProblem[] = []) =>
  new DomainError('bad_request', message, details);
export const notFound = (what: string) => new DomainError('not_found', `${what} not found`);
export const conflict = (message: string, details: FieldProblem[] = []) =>
  new DomainError('conflict', message, details);
