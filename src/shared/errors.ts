/**
 * Errors that cross from a capability to a caller with a status code.
 * Every error the API returns is JSON `{error, message, detail, details}`:
 * `error` is a stable machine code, `message`/`detail` a sentence (Tracardi's tracker logs `detail`),
 * `details` a list naming the offending fields.
 */
export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ErrorBody {
    return { error: this.code, message: this.message, detail: this.message, details: this.details };
  }
}

export interface ErrorBody {
  error: string;
  message: string;
  detail: string;
  details: FieldProblem[];
}

export const badRequest = (message: string, details: FieldProblem[] = []) =>
  new ApiError(400, 'bad_request', message, details);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
