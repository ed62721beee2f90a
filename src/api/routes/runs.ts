import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { notFound } from '../../shared/errors.js';
import { RUN_STATUSES, RUN_TRIGGERS, type WorkflowServices } from '../../workflow/ports.js';
import { ErrorSchema, IdParams } from '../schemas.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const NodeTraceSchema = Type.Object({
  node: Type.String(),
  action: Type.String(),
  input: Type.Unknown({ description: 'the payload the node received' }),
  outputs: Type.Record(Type.String(), Type.Unknown(), { description: 'what it returned, by output port' }),
  startedAt: Type.String(),
  durationMs: Type.Number(),
  error: Type.Optional(Type.String()),
});

export const PauseSchema = Type.Object(
  {
    node: Type.String(),
    port: Type.String(),
    at: Type.String({ description: 'when the run continues' }),
    untilEventType: Type.Optional(Type.String({ description: 'or earlier, when an event of this type arrives' })),
    timeoutPort: Type.Optional(Type.String()),
  },
  { description: 'where a paused run continues' },
);

export const RunErrorSchema = Type.Object({ node: Type.String(), message: Type.String() });

const RunSummarySchema = Type.Object({
  id: Type.String(),
  flowId: Type.String(),
  ruleId: Nullable(Type.String()),
  trigger: Type.Union(RUN_TRIGGERS.map((trigger) => Type.Literal(trigger))),
  eventId: Nullable(Type.String()),
  profileId: Nullable(Type.String()),
  sessionId: Nullable(Type.String()),
  status: Type.Union(RUN_STATUSES.map((status) => Type.Literal(status))),
  attempts: Type.Integer({ description: 'times a process took the run' }),
  error: Nullable(RunErrorSchema),
  createdAt: Type.String({ description: 'when it was recorded (the commit of its event)' }),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  durationMs: Nullable(Type.Number({ description: 'from start to finish' })),
});

const RunSchema = Type.Composite([
  RunSummarySchema,
  Type.Object({
    trace: Type.Array(NodeTraceSchema),
    response: Type.Record(Type.String(), Type.Unknown()),
    ux: Type.Array(Type.Unknown()),
    pause: Nullable(PauseSchema),
  }),
]);

const RunsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'the `next` of the previous page' })),
});

export function runRoutes({ flows, runs }: WorkflowServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['runs'];

    api.get(
      '/flows/:id/runs',
      {
        schema: {
          tags,
          summary: "A flow's recorded runs, newest first; kept WORKFLOW_RUN_RETENTION_DAYS after they finish",
          params: IdParams,
          querystring: RunsQuery,
          response: {
            200: Type.Object({ items: Type.Array(RunSummarySchema), next: Nullable(Type.String()) }),
            '4xx': ErrorSchema,
          },
        },
      },
      async (request) => {
        if (!(await flows.get(request.params.id))) throw notFound('flow');
        return runs.listForFlow(request.params.id, request.query.limit, request.query.cursor);
      },
    );

    api.get(
      '/runs/:id',
      {
        schema: {
          tags,
          summary: 'A recorded run: status, per-node trace, error and timings',
          params: IdParams,
          response: { 200: RunSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => (await runs.get(request.params.id)) ?? Promise.reject(notFound('run')),
    );
  };
}
