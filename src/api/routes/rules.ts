import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DomainError, notFound } from '../../shared/errors.js';
import type { WorkflowServices } from '../../workflow/ports.js';
import { RULE_KINDS, checkRuleReferences, parseRuleInput, type RuleFields } from '../../workflow/rule.js';
import { ErrorSchema, IdParams } from '../schemas.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Kind = Type.Union(
  RULE_KINDS.map((kind) => Type.Literal(kind)),
  { description: 'event: a collected event starts the flow; segment-entered / segment-left: a segment change does' },
);

const RuleSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Kind,
  eventType: Type.Optional(Type.String()),
  sourceId: Type.Optional(Type.String()),
  segmentId: Type.Optional(Type.String()),
  flowId: Type.String(),
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  kind: Kind,
  eventType: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'event rules: normalised as /track stores it' }),
  ),
  sourceId: Type.Optional({ ...Id, description: 'event rules: the event source it matches; absent: any source' }),
  segmentId: Type.Optional({ ...Id, description: 'segment rules: the segment whose entries or exits it follows' }),
  flowId: Id,
  enabled: Type.Optional(Type.Boolean()),
};
const CreateBody = Type.Object(
  { id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' })), ...Fields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(Fields, { additionalProperties: false });
const ListQuery = Type.Object({ flowId: Type.Optional(Id) }, { additionalProperties: false });

export function ruleRoutes({ rules, references, ruleCache }: WorkflowServices) {
  const input = async (fields: RuleFields) => {
    const rule = parseRuleInput(fields);
    await checkRuleReferences(rule, references);
    return rule;
  };

  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['rules'];

    api.post(
      '/rules',
      {
        schema: {
          tags,
          summary: 'Create a rule that starts a flow on an event or a segment change',
          body: CreateBody,
          response: { 201: RuleSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { id = randomUUID(), ...fields } = request.body;
        const created = await rules.create({ id, ...(await input(fields)) });
        if (!created)
          throw new DomainError('conflict', `rule "${id}" already exists`, [
            { field: 'id', message: 'already exists' },
          ]);
        ruleCache.forget();
        return reply.status(201).send(created);
      },
    );

    api.get(
      '/rules',
      {
        schema: {
          tags,
          summary: 'List rules, all or those of one flow',
          querystring: ListQuery,
          response: { 200: Type.Array(RuleSchema), '4xx': ErrorSchema },
        },
      },
      (request) => rules.list(request.query),
    );

    api.get(
      '/rules/:id',
      { schema: { tags, summary: 'Get a rule', params: IdParams, response: { 200: RuleSchema, '4xx': ErrorSchema } } },
      async (request) => (await rules.get(request.params.id)) ?? Promise.reject(notFound('rule')),
    );

    api.put(
      '/rules/:id',
      {
        schema: {
          tags,
          summary: 'Replace a rule',
          params: IdParams,
          body: UpdateBody,
          response: { 200: RuleSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        if (!(await rules.get(request.params.id))) throw notFound('rule');
        const updated = await rules.update(request.params.id, await input(request.body));
        if (!updated) throw notFound('rule');
        ruleCache.forget();
        return updated;
      },
    );

    api.delete(
      '/rules/:id',
      {
        schema: {
          tags,
          summary: 'Delete a rule',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await rules.delete(request.params.id))) throw notFound('rule');
        ruleCache.forget();
        return reply.status(204).send(null);
      },
    );
  };
}
