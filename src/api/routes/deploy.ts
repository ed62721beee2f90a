import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deployer } from '../../deploy/plan.js';
import { bodyOrEmpty, ErrorSchema, OPTIONAL_BODY } from '../schemas.js';

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

const RefusalSchema = Type.Object(
  { ...ErrorSchema.properties, error: Type.Literal('conflict') },
  {
    description:
      'Refused, nothing written. `details` names each conflicting row as ' +
      '`{field: "TABLE.COLUMNS", message: "the test context\'s "ID" (NAME) would take the COLUMNS of production\'s "ID" (NAME)…"}`, ' +
      'a credential as `{field: "SCHEMA.imports.secret", message}` naming the import, a unique value production refused as ' +
      "`{field: PRODUCTION_SCHEMA, message: PostgreSQL's detail}`; contexts not migrated as far have none, the `message` " +
      'saying which `meridian migrate` to run.',
  },
);

/** Copies the test context's configuration to production (Tracardi's "deploy"). */
export function deployRoutes({ deployer }: { deployer: Deployer }) {
  return async (app: FastifyInstance) => {
    app.withTypeProvider<TypeBoxTypeProvider>().post(
      '/deploy',
      {
        schema: {
          tags: ['jobs'],
          summary: "Copy the test context's configuration to production, or list what that would do",
          description:
            'Without a body, or without `dryRun`, the deploy is done. It is refused whole (409, nothing written) while ' +
            'an item is a `conflict`, when a credential does not open or seal, when production refuses a copied row ' +
            'as unique, or when the contexts are not both migrated as far as this version.',
          body: Type.Object(
            { dryRun: Type.Optional(Type.Boolean({ description: 'list what would change, change nothing' })) },
            { additionalProperties: false },
          ),
          response: { 200: DeployReportSchema, 409: RefusalSchema, '4xx': ErrorSchema },
          // No body at all is a deploy, as a body without `dryRun` is.
          [OPTIONAL_BODY]: true,
        },
        preValidation: bodyOrEmpty,
      },
      async (request) => deployer.deploy({ dryRun: request.body.dryRun === true }),
    );
  };
}
