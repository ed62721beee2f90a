import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DomainError, notFound } from '../../shared/errors.js';
import { jobRunFigures, progressOf } from '../../importing/progress.js';
import type { JobRun, JobRunRepository } from '../../shared/job-runs.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import { importRunView, ImportRunSchema, type ImportApiServices } from './imports.js';

export const JobRunSchema = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: 'the mapping kind of a backfill, `deploy`, or `data-migration`' }),
  subject: Type.Union([Type.String(), Type.Null()], {
    description:
      'what the run works on: the mapping id of a backfill, the two schemas of a deploy (`meridian_test → meridian_prod`), the name of a data migration',
  }),
  state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  total: Type.Integer({
    description:
      'items the run works through: for a backfill the events found when it started; for a deploy the rows it creates or changes; for a data migration the rows to rewrite, counted when it was planned and grown by those stored since, and once it is done the rows it went through (rows deleted meanwhile are not counted)',
  }),
  done: Type.Integer({ description: 'items processed so far' }),
  errors: Type.Integer({ description: 'items that could not be applied and were skipped' }),
  batches: Type.Integer(),
  batchesDone: Type.Integer(),
  rowsPerSecond: Type.Union([Type.Number(), Type.Null()], {
    description: "a data migration's rows per second of running time (the time no process worked on it left out)",
  }),
  percent: Type.Union([Type.Number(), Type.Null()], { description: 'share of total done; 100 once done' }),
  etaSeconds: Type.Union([Type.Integer(), Type.Null()], {
    description: "seconds left at a data migration's rate so far, while a process works through it",
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export const jobRunView = (run: JobRun): Static<typeof JobRunSchema> => ({
  id: run.id,
  kind: run.kind,
  subject: run.subject,
  state: run.state,
  total: run.total,
  done: run.done,
  errors: run.errors,
  batches: run.batches,
  batchesDone: run.batchesDone,
  ...progressOf(jobRunFigures(run)),
  lastError: run.lastError,
  createdAt: run.createdAt,
  updatedAt: run.updatedAt,
  finishedAt: run.finishedAt,
});

const RejectionsSchema = Type.Array(
  Type.Object({ ref: Type.String({ description: 'line N of a file, key K of a table row' }), reason: Type.String() }),
);

/**
 * Background runs: mapping backfills, deploys and data migrations (job_runs), and import runs, which can
 * also be paused, resumed and cancelled.
 */
export function jobRoutes({ jobRuns }: { jobRuns: JobRunRepository }, importing?: ImportApiServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['jobs'];
    api.get(
      '/jobs',
      {
        schema: {
          tags,
          summary: 'Background runs, latest first: backfills, import runs, deploys, data migrations',
          querystring: Type.Object({
            kind: Type.Optional(
              Type.String({ description: '`import`, `deploy`, `data-migration`, or a mapping kind' }),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          }),
          response: {
            200: Type.Array(Type.Union([JobRunSchema, ImportRunSchema])),
            400: Type.Object(ErrorSchema.properties, {
              description: '`limit` is not a whole number from 1 to 1000; `details` names it',
            }),
          },
        },
      },
      async (request) => {
        const { kind, limit } = request.query;
        const runs = [
          ...(kind === 'import' ? [] : (await jobRuns.list({ kind, limit })).map(jobRunView)),
          ...(importing && (kind === undefined || kind === 'import')
            ? (await importing.imports.latestRuns(limit)).map(importRunView)
            : []),
        ];
        // Each table gave its latest `limit`; the latest of both are among them.
        return runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id)).slice(0, limit);
      },
    );
    api.get(
      '/jobs/:id',
      {
        schema: {
          tags,
          summary: 'Progress of a background run: a mapping backfill, an import run, a deploy or a data migration',
          params: IdParams,
          response: { 200: Type.Union([JobRunSchema, ImportRunSchema]), '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const id = request.params.id;
        const run = await importing?.imports.getRun(id);
        if (run) return importRunView(run);
        const jobRun = await jobRuns.get(id);
        if (!jobRun) throw notFound('job');
        return jobRunView(jobRun);
      },
    );
    if (!importing) return;
    api.get(
      '/jobs/:id/rejections',
      {
        schema: {
          tags,
          summary: "An import run's first 1,000 rejected rows, with their line or key and the reason",
          params: IdParams,
          response: { 200: RejectionsSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        if (!(await importing.imports.getRun(request.params.id))) throw notFound('import run');
        return importing.imports.rejections(request.params.id);
      },
    );
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      api.post(
        `/jobs/:id/${action}`,
        {
          schema: {
            tags,
            summary: `${action[0]!.toUpperCase()}${action.slice(1)} an import run`,
            params: IdParams,
            response: { 200: ImportRunSchema, '4xx': ErrorSchema },
          },
        },
        async (request) => {
          const id = request.params.id;
          const jobRun = (await importing.imports.getRun(id)) ? undefined : await jobRuns.get(id);
          if (jobRun)
            throw new DomainError('conflict', `only import runs can be asked to ${action}`, [
              { field: 'kind', message: `${jobRun.kind}, not import` },
            ]);
          return importRunView(await importing.control(id, action));
        },
      );
    }
  };
}
