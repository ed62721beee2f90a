import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

/** Admin routes require `Authorization: Bearer <API_TOKEN>`; with no token configured they are closed. */
export function bearerAuth(token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(token);
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = match ? Buffer.from(match[1]!.trim()) : undefined;
    const ok =
      expected !== undefined &&
      given !== undefined &&
      given.length === expected.length &&
      timingSafeEqual(given, expected);
    if (!ok) {
      throw new HttpError(
        401,
        'unauthorized',
        expected ? 'a valid bearer token is required' : 'the admin API is disabled: set API_TOKEN',
        [{ field: 'authorization', message: given ? 'token does not match' : 'missing Authorization: Bearer <token>' }],
      );
    }
  };
}
