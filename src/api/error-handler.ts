import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../shared/errors.js';
import { RequestValidationError } from './validation.js';
import { isDecodingError } from './content-encoding.js';

/** Fastify's own client errors, named for API users. */
const FASTIFY_CODES: Record<string, { code: string; field: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', field: 'body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_request', field: 'content-length' },
};

/** PostgreSQL's answers to a value it cannot store: the client's data, so a 400, not a 500. */
const UNSTORABLE_VALUE = new Set(['22P05', '22021', '22008', '22007', '22003', '54000']);

function toApiError(error: FastifyError | Error, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  if (isDecodingError(error)) {
    const encoding = String(request.headers['content-encoding']);
    return new ApiError(400, 'invalid_body', `the body is not valid ${encoding}: ${error.message}`, [
      { field: 'content-encoding', message: `the body could not be decoded as ${encoding}` },
    ]);
  }
  const sqlState = (error as { code?: unknown }).code;
  if (typeof sqlState === 'string' && UNSTORABLE_VALUE.has(sqlState)) {
    return new ApiError(400, 'unstorable_value', `a value in the request cannot be stored: ${error.message}`, [
      { field: 'body', message: error.message },
    ]);
  }
  const cause = (error as { cause?: unknown }).cause;
  if (error instanceof RequestValidationError) {
    return new ApiError(400, 'validation_failed', `invalid ${error.part}: ${error.message}`, error.problems);
  }
  if (cause instanceof RequestValidationError) return toApiError(cause, request);
  const fastifyError = error as FastifyError;
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (error instanceof SyntaxError || known) {
    const { code, field } = known ?? { code: 'invalid_json', field: 'body' };
    return new ApiError(fastifyError.statusCode ?? 400, code, error.message, [{ field, message: error.message }]);
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new ApiError(status, 'bad_request', error.message, []);
  }
  return new ApiError(500, 'internal_error', 'internal error; the request was not stored', []);
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(error, request);
  if (apiError.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  void reply.status(apiError.statusCode).send(apiError.toBody());
}
