import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldProblem } from '../shared/errors.js';
import { schemaProblems } from '../shared/schema-errors.js';

/** A request part that failed its schema; the error handler turns it into a 400 naming the fields. */
export class RequestValidationError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly part: string,
    readonly problems: FieldProblem[],
  ) {
    super(problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '));
    this.name = 'RequestValidationError';
  }
}

/**
 * Bodies are checked as sent (a number where a string belongs is an error, never coerced);
 * query strings and path parameters are text by nature, so they are converted to the schema's types first.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  const converts = httpPart === 'querystring' || httpPart === 'params';
  return (input: unknown) => {
    const value = converts ? Value.Convert(schema, Value.Default(schema, { ...(input as object) })) : input;
    if (checker.Check(value)) return { value };
    return { error: new RequestValidationError(String(httpPart), schemaProblems(checker, value, String(httpPart))) };
  };
};
