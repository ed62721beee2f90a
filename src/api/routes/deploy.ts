import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deployer } from '../../deploy/plan.js';
import { ErrorSchema } from '../schemas.js';

const Count = Type.Integer();

const RowRef = Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]) });

const DeployReportSchema = Type.Object({
  dryRun: Type.Boolean(),
  from: Type.String({ description: "the test context's schema" }),
  to: Type.String({ description: "production's schema" }),
  jobId: Type.Union([Type.String(), Type.Null()], {
    description: 'the run recorded in GET /jobs/{id}; null on a dry run',
  }),
  summary: Type.Object({ create: Count, change: Count, unchanged: Count, kept: Count, conflict: Count }),
  items: Type.Array(
    Type.Composite([
      Type.Object({ table: Type.String() }),
      RowRef,
      Type.Object({
        action: Type.Union(
          [
            Type.Literal('create'),
            Type.Literal('change'),
            Type.Literal('unchanged'),
            Type.Literal('kept'),
            Type.Literal('conflict'),
          ],
          {
            description:
              "`kept`: only production has it; a deploy never deletes. `conflict`: copied, it would take a unique value (a segment's machine name) of a kept row; a deploy is refused while one is listed",
          },
        ),
        fields: Type.Optional(
          Type.Array(Type.String(), {
            description: 'for a change, the columns that differ; for a conflict, the unique columns',
          }),
        ),
        conflictsWith: Type.Optional(
          Type.Composite([RowRef], { description: "for a conflict, production's row that holds the value" }),
        ),
      }),
    ]),
  ),
});

/** Copies the test context's configuration to production (Tracardi's "deploy"). */
export function deployRoutes({ deployer }: { deployer: Deployer }) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<TypeBoxTypeProvider>().post(
      '/deploy',
      {
        schema: {
          tags: ['jobs'],
          summary: "Copy the test context's configuration to production, or list what that would do",
          body: Type.Object(
            { dryRun: Type.Optional(Type.Boolean({ description: 'list what would change, change nothing' })) },
            { additionalProperties: false },
          ),
          response: { 200: DeployReportSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => deployer.deploy({ dryRun: request.body.dryRun === true }),
    );
  };
}
