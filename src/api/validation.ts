import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { pointerToField } from '../tracking/payload.js';
import type { FieldProblem } from '../shared/errors.js';
import { explainSchemaError } from '../shared/schema-errors.js';

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

const MAX_PROBLEMS = 10;

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
    const problems: FieldProblem[] = [];
    for (const error of checker.Errors(value)) {
      const { path, message } = explainSchemaError(error);
      const field = pointerToField(path) || (httpPart === 'body' ? 'body' : String(httpPart));
      if (!problems.some((problem) => problem.field === field)) problems.push({ field, message });
      if (problems.length >= MAX_PROBLEMS) break;
    }
    return { error: new RequestValidationError(String(httpPart), problems) };
  };
};
