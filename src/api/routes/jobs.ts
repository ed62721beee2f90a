import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { notFound } from '../../shared/errors.js';
import type { JobRunRepository } from '../../shared/job-runs.js';
import { ErrorSchema, IdParams } from '../schemas.js';

export const JobRunSchema = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: 'for a mapping backfill, the mapping kind' }),
  subject: Type.Union([Type.String(), Type.Null()], {
    description: 'what the run works on: the mapping id of a backfill',
  }),
  state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  total: Type.Integer({ description: 'items (events) found when the run started' }),
  done: Type.Integer({ description: 'items processed so far' }),
  errors: Type.Integer({ description: 'items that could not be applied and were skipped' }),
  batches: Type.Integer(),
  batchesDone: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export function jobRoutes({ jobRuns }: { jobRuns: JobRunRepository }) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    api.get(
      '/jobs/:id',
      {
        schema: {
          tags: ['jobs'],
          summary: 'Progress of a background run (e.g. a mapping backfill)',
          params: IdParams,
          response: { 200: JobRunSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await jobRuns.get(request.params.id)) ?? Promise.reject(notFound('job')),
    );
  };
}
