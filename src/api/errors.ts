import type { FieldProblem } from '../shared/errors.js';

/** The JSON body of every error answer: `detail` repeats `message` because Tracardi's tracker logs it. */
export interface ErrorBody {
  error: string;
  message: string;
  detail: string;
  details: FieldProblem[];
}

/**
 * An error of the HTTP exchange itself (headers, encoding, body parsing, auth), raised only in
 * `src/api/`; what a capability refuses is a `DomainError`, mapped in the error handler.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toBody(): ErrorBody {
    return { error: this.code, message: this.message, detail: this.message, details: this.details };
  }
}
