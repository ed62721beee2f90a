import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';

export const ErrorSchema = Type.Object({
  error: Type.String(),
  message: Type.String(),
  detail: Type.String(),
  details: Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(
    Type.String({ pattern: '^-?[0-9]{1,19}_[0-9]{1,19}$', description: 'the `next` of the previous page' }),
  ),
});

/**
 * Marks a route whose body may be left out altogether, read as `{}` (`bodyOrEmpty`). @fastify/swagger
 * publishes every declared body as required; `publishOptionalBodies` turns the mark into
 * `requestBody.required: false`.
 */
export const OPTIONAL_BODY = 'x-optional-body';

declare module 'fastify' {
  interface FastifySchema {
    [OPTIONAL_BODY]?: boolean;
  }
}

/** A route's `preValidation` for an OPTIONAL_BODY: no body at all is an empty one. */
export async function bodyOrEmpty(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}

type Operation = Record<string, unknown> & {
  requestBody?: { required?: boolean };
  parameters?: { in: string; required?: boolean; schema?: { default?: unknown } }[];
};

/** The OpenAPI document with the bodies of routes marked OPTIONAL_BODY published as not required. */
export function publishOptionalBodies<T extends { paths?: object }>(document: T): T {
  for (const operations of Object.values(document.paths ?? {}) as Record<string, Operation>[])
    for (const operation of Object.values(operations)) {
      if (operation[OPTIONAL_BODY] !== true) continue;
      delete operation[OPTIONAL_BODY];
      if (operation.requestBody) operation.requestBody.required = false;
    }
  return document;
}

/**
 * The OpenAPI document with every query parameter that has a default (`limit`) published as not
 * required: @fastify/swagger marks each one that is not `Type.Optional` required, though a request
 * without it gets the default.
 */
export function publishDefaultedParameters<T extends { paths?: object }>(document: T): T {
  for (const operations of Object.values(document.paths ?? {}) as Record<string, Operation>[])
    for (const operation of Object.values(operations))
      for (const parameter of operation.parameters ?? [])
        if (parameter.in === 'query' && parameter.schema?.default !== undefined) parameter.required = false;
  return document;
}
