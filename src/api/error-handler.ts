import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorCode } from '../shared/errors.js';
import { HttpError } from './errors.js';
import { RequestValidationError } from './validation.js';
import { isDecodingError } from './content-encoding.js';
import { isUnstorableValue } from '../storage/unstorable.js';

/** The one place a capability's error code meets an HTTP status. */
export const STATUS_OF_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  validation_failed: 400,
  invalid_condition: 400,
  // Tracardi answers an unknown or disabled source with 401; its tracker relies on that.
  invalid_source: 401,
  not_found: 404,
  conflict: 409,
  mapping_disabled: 409,
  // A merge would join more profiles than MERGE_MAX_PROFILES allows.
  merge_refused: 409,
  // The request was well formed, but none of its events could be kept.
  invalid_events: 422,
  queue_unavailable: 503,
};

/** Fastify's own client errors, named for API users. */
const FASTIFY_CODES: Record<string, { code: string; field: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', field: 'body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_request', field: 'content-length' },
};

export function toHttpError(error: FastifyError | Error, request: FastifyRequest): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof DomainError) {
    return new HttpError(STATUS_OF_CODE[error.code], error.code, error.message, error.details);
  }
  if (isDecodingError(error)) {
    const encoding = String(request.headers['content-encoding']);
    return new HttpError(400, 'invalid_body', `the body is not valid ${encoding}: ${error.message}`, [
      { field: 'content-encoding', message: `the body could not be decoded as ${encoding}` },
    ]);
  }
  // The client's data, so a 400, not a 500.
  if (isUnstorableValue(error)) {
    return new HttpError(400, 'unstorable_value', `a value in the request cannot be stored: ${error.message}`, [
      { field: 'body', message: error.message },
    ]);
  }
  const cause = (error as { cause?: unknown }).cause;
  if (error instanceof RequestValidationError) {
    return toHttpError(
      new DomainError('validation_failed', `invalid ${error.part}: ${error.message}`, error.problems),
      request,
    );
  }
  if (cause instanceof RequestValidationError) return toHttpError(cause, request);
  const fastifyError = error as FastifyError;
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (error instanceof SyntaxError || known) {
    const { code, field } = known ?? { code: 'invalid_json', field: 'body' };
    return new HttpError(fastifyError.statusCode ?? 400, code, error.message, [{ field, message: error.message }]);
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new HttpError(status, 'bad_request', error.message, []);
  }
  return new HttpError(500, 'internal_error', 'internal error; the request was not stored', []);
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const httpError = toHttpError(error, request);
  if (httpError.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  void reply.status(httpError.statusCode).send(httpError.toBody());
}
