import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { WorkflowServices } from '../../workflow/ports.js';

const ActionSchema = Type.Object({
  id: Type.String({ description: 'what a node names in `action`' }),
  name: Type.String(),
  description: Type.String(),
  group: Type.String({ description: 'flow, data, profile, outside, time or response' }),
  configSchema: Type.Unknown({ description: "JSON Schema of a node's `config`, for forms" }),
  outputs: Type.Array(Type.String(), {
    description: 'output ports (every action also has `error`); a switch adds one per case of its config',
  }),
  start: Type.Boolean({ description: 'the start node of a flow; a flow has exactly one' }),
  answersClient: Type.Boolean({
    description: 'a flow holding it runs before the /track answer, which carries what it made',
  }),
  local: Type.Boolean({
    description:
      'does no I/O and changes nothing beyond the profile, session, event and answer: a flow made only of such actions runs inside the commit of its event',
  }),
});

export function actionRoutes({ actions }: WorkflowServices) {
  // The specs are fixed for the life of the process; their schemas are plain JSON Schema already.
  const listed = actions.list().map((spec) => ({
    id: spec.id,
    name: spec.name,
    description: spec.description,
    group: spec.group,
    configSchema: JSON.parse(JSON.stringify(spec.configSchema)) as unknown,
    outputs: [...spec.outputs],
    start: spec.start === true,
    answersClient: spec.answersClient === true,
    local: spec.local === true,
  }));
  return async (app: FastifyInstance) => {
    app.withTypeProvider<TypeBoxTypeProvider>().get(
      '/actions',
      {
        schema: {
          tags: ['flows'],
          summary: 'The actions flows are built of, with their config schemas and output ports',
          response: { 200: Type.Array(ActionSchema) },
        },
      },
      () => listed,
    );
  };
}
