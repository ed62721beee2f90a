/** Condition language endpoints: check a condition while it is typed, and try it on a sample context. */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { compileCondition, ConditionSyntaxError, fieldsOf, parseCondition } from '../../condition/index.js';
import { findTooDeep } from '../../tracking/storable.js';
import { invalidInput } from '../../shared/errors.js';
import { ErrorSchema } from '../schemas.js';

const ConditionText = Type.String({ description: 'e.g. profile@traits.age > 18 AND event@type == "purchase"' });

const ValidateBody = Type.Object({ condition: ConditionText }, { additionalProperties: false });
const ValidateResponse = Type.Object({
  valid: Type.Boolean(),
  error: Type.Optional(
    Type.Object({
      message: Type.String(),
      position: Type.Integer({ description: '0-based character offset' }),
      expected: Type.Array(Type.String()),
    }),
  ),
  fields: Type.Array(Type.String(), { description: 'every field the condition reads, as source@path' }),
});

const AnyObject = Type.Unknown();
const EvaluateBody = Type.Object(
  {
    condition: ConditionText,
    context: Type.Object(
      {
        profile: Type.Optional(AnyObject),
        event: Type.Optional(AnyObject),
        session: Type.Optional(AnyObject),
        payload: Type.Optional(AnyObject),
        flow: Type.Optional(AnyObject),
        memory: Type.Optional(AnyObject),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
const EvaluateResponse = Type.Object({
  result: Type.Boolean(),
  warnings: Type.Array(Type.String(), { description: 'why parts of the condition were false (type mismatches)' }),
});

export async function tqlRoutes(app: FastifyInstance): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['tql'];

  api.post(
    '/tql/validate',
    {
      schema: {
        tags,
        summary: 'Check a condition; a syntax error comes back with its position',
        body: ValidateBody,
        response: { 200: ValidateResponse },
      },
    },
    async (request) => {
      try {
        return { valid: true, fields: fieldsOf(parseCondition(request.body.condition)) };
      } catch (error) {
        if (!(error instanceof ConditionSyntaxError)) throw error;
        return {
          valid: false,
          error: { message: error.message, position: error.position, expected: [...error.expected] },
          fields: [],
        };
      }
    },
  );

  api.post(
    '/tql/evaluate',
    {
      schema: {
        tags,
        summary: 'Evaluate a condition against a sample context',
        body: EvaluateBody,
        response: { 200: EvaluateResponse, 400: ErrorSchema },
      },
    },
    async (request) => {
      // Comparing documents recurses: a sample nested thousands deep would exhaust the stack.
      const tooDeep = findTooDeep(request.body.context, 'context');
      if (tooDeep) throw invalidInput(`${tooDeep.field}: ${tooDeep.message}`, [tooDeep]);
      let compiled;
      try {
        compiled = compileCondition(request.body.condition);
      } catch (error) {
        if (error instanceof ConditionSyntaxError) {
          throw invalidInput(error.message, [{ field: 'condition', message: error.message }]);
        }
        throw error;
      }
      return compiled.evaluateWithWarnings(request.body.context);
    },
  );
}
