import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DomainError, notFound } from '../../shared/errors.js';
import { runFlow } from '../../workflow/engine.js';
import { FLOW_TYPES, prepareFlow, sampleContext } from '../../workflow/flow-input.js';
import type { FlowInput, WorkflowServices } from '../../workflow/ports.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import { NodeTraceSchema, PauseSchema, RunErrorSchema } from './runs.js';

const Name = Type.String({ minLength: 1, maxLength: 128 });
const Document = Type.Record(Type.String(), Type.Unknown());

const NodeSchema = Type.Object(
  {
    id: Name,
    action: Type.String({ minLength: 1, maxLength: 128, description: 'an action id from GET /actions' }),
    config: { ...Document, description: "valid against the action's configSchema" },
    label: Type.Optional(Type.String({ maxLength: 200 })),
    position: Type.Optional(Type.Object({ x: Type.Number(), y: Type.Number() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
const EdgeSchema = Type.Object(
  {
    from: Type.Object({ node: Name, port: Name }, { additionalProperties: false }),
    to: Type.Object({ node: Name }, { additionalProperties: false }),
  },
  { additionalProperties: false, description: 'joins an output port of one node to the input of another' },
);
const GraphSchema = Type.Object(
  {
    nodes: Type.Array(NodeSchema, { maxItems: 500 }),
    edges: Type.Array(EdgeSchema, { maxItems: 2000 }),
  },
  { additionalProperties: false },
);
const FlowType = Type.Union(FLOW_TYPES.map((type) => Type.Literal(type)));

const FlowSummarySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  type: FlowType,
  enabled: Type.Boolean(),
  answersClient: Type.Boolean({
    description: 'holds a response or UX action: its runs happen before the /track answer',
  }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export const FlowSchema = Type.Composite([FlowSummarySchema, Type.Object({ graph: GraphSchema })]);

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  type: Type.Optional(FlowType),
  enabled: Type.Optional(Type.Boolean()),
  graph: GraphSchema,
};
const CreateBody = Type.Object(
  { id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' })), ...Fields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(Fields, { additionalProperties: false });

const DebugBody = Type.Object(
  {
    profile: Type.Optional(Document),
    session: Type.Optional(Document),
    event: Type.Optional(Document),
    payload: Type.Optional(Type.Unknown({ description: 'what the start node receives; {} when absent' })),
  },
  { additionalProperties: false },
);
const DebugResultSchema = Type.Object({
  status: Type.Union([Type.Literal('completed'), Type.Literal('failed'), Type.Literal('paused')]),
  trace: Type.Array(NodeTraceSchema),
  response: Document,
  ux: Type.Array(Type.Unknown()),
  effects: Type.Array(Type.Unknown(), {
    description: 'what a real run would apply (profile changes, raised events…); a debug run applies none',
  }),
  memory: Document,
  error: Type.Optional(RunErrorSchema),
  pause: Type.Optional(PauseSchema),
});

/** Saves a new flow; the rules cache forgets, as a flow's rules may start or stop matching. */
export function createFlow({ flows, ruleCache }: Pick<WorkflowServices, 'flows' | 'ruleCache'>) {
  return async (flow: FlowInput) => {
    const created = await flows.create(flow);
    if (!created)
      throw new DomainError('conflict', `flow "${flow.id}" already exists`, [
        { field: 'id', message: 'already exists' },
      ]);
    ruleCache.forget();
    return created;
  };
}

export function flowRoutes(services: WorkflowServices) {
  const { flows, actions, http, ruleCache } = services;
  const create = createFlow(services);

  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['flows'];

    api.post(
      '/flows',
      {
        schema: {
          tags,
          summary: 'Create a flow; its graph is checked (a refusal names the node and the field)',
          body: CreateBody,
          response: { 201: FlowSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { id = randomUUID(), ...fields } = request.body;
        return reply.status(201).send(await create({ id, ...prepareFlow(fields, actions) }));
      },
    );

    api.get(
      '/flows',
      {
        schema: {
          tags,
          summary: 'List flows (without their graphs)',
          response: { 200: Type.Array(FlowSummarySchema) },
        },
      },
      () => flows.list(),
    );

    api.get(
      '/flows/:id',
      { schema: { tags, summary: 'Get a flow', params: IdParams, response: { 200: FlowSchema, '4xx': ErrorSchema } } },
      async (request) => (await flows.get(request.params.id)) ?? Promise.reject(notFound('flow')),
    );

    api.put(
      '/flows/:id',
      {
        schema: {
          tags,
          summary: 'Replace a flow; runs recorded from now on use the new graph',
          params: IdParams,
          body: UpdateBody,
          response: { 200: FlowSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        if (!(await flows.get(request.params.id))) throw notFound('flow');
        const updated = await flows.update(request.params.id, prepareFlow(request.body, actions));
        if (!updated) throw notFound('flow');
        ruleCache.forget();
        return updated;
      },
    );

    api.delete(
      '/flows/:id',
      {
        schema: {
          tags,
          summary: 'Delete a flow and its rules; its run history stays until the retention removes it',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await flows.delete(request.params.id))) throw notFound('flow');
        ruleCache.forget();
        return reply.status(204).send(null);
      },
    );

    api.post(
      '/flows/:id/debug',
      {
        schema: {
          tags,
          summary: 'Run a flow on a sample and answer its per-node trace; nothing is stored or applied',
          params: IdParams,
          body: DebugBody,
          response: { 200: DebugResultSchema, '4xx': ErrorSchema },
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const flow = await flows.get(request.params.id);
        if (!flow) throw notFound('flow');
        return runFlow(flow, sampleContext(flow, request.body), { actions, http });
      },
    );
  };
}
