import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { DomainError, ERROR_CODES, invalidInput, notFound } from '../shared/errors.js';
import { HttpError } from './errors.js';
import { STATUS_OF_CODE, toHttpError } from './error-handler.js';
import { RequestValidationError } from './validation.js';

const request = { headers: {} } as FastifyRequest;

describe('error handler', () => {
  it('gives every stable code a client or availability status, and no other code', () => {
    expect(Object.keys(STATUS_OF_CODE).sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      expect([400, 401, 404, 409, 422, 503]).toContain(STATUS_OF_CODE[code]);
    }
  });

  it.each([
    ['bad_request', 400],
    ['validation_failed', 400],
    ['invalid_condition', 400],
    ['invalid_source', 401],
    ['not_found', 404],
    ['conflict', 409],
    ['mapping_disabled', 409],
    ['invalid_events', 422],
    ['queue_unavailable', 503],
  ] as const)('answers %s with %i and the documented body', (code, status) => {
    const details = [{ field: 'source.id', message: 'event source not found' }];
    const answer = toHttpError(new DomainError(code, 'what went wrong', details), request);
    expect(answer.statusCode).toBe(status);
    expect(answer.toBody()).toEqual({ error: code, message: 'what went wrong', detail: 'what went wrong', details });
  });

  it('keeps the helpers on their codes', () => {
    expect(toHttpError(notFound('segment'), request).toBody()).toMatchObject({
      error: 'not_found',
      message: 'segment not found',
      details: [],
    });
    expect(toHttpError(invalidInput('to: must be after from'), request).statusCode).toBe(400);
  });

  it('passes an error of the HTTP exchange through as raised', () => {
    const unsupported = new HttpError(415, 'unsupported_media_type', 'Content-Encoding "br2" is not supported');
    expect(toHttpError(unsupported, request)).toBe(unsupported);
  });

  it('names request validation failures, also when Fastify wraps them', () => {
    const problems = [{ field: 'limit', message: 'expected an integer' }];
    const wrapped = Object.assign(new Error('wrapped'), {
      cause: new RequestValidationError('querystring', problems),
    });
    expect(toHttpError(wrapped, request)).toMatchObject({
      statusCode: 400,
      code: 'validation_failed',
      details: problems,
    });
  });

  it('answers an unknown error with 500 and does not leak its message', () => {
    const answer = toHttpError(new Error('connection terminated unexpectedly'), request);
    expect(answer.statusCode).toBe(500);
    expect(answer.toBody()).toMatchObject({ error: 'internal_error', details: [] });
    expect(answer.message).not.toContain('connection terminated');
    expect(toHttpError(new TypeError('x is undefined'), request).statusCode).toBe(500);
  });
});
