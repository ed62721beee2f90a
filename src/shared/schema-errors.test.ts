import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { describe, expect, it } from 'vitest';
import { EXPECTED, explainSchemaError } from './schema-errors.js';

const explain = (schema: TSchema, value: unknown) => {
  const first = TypeCompiler.Compile(schema).Errors(value).First();
  if (!first) throw new Error('the value passed the schema');
  return explainSchemaError(first);
};

describe('explainSchemaError', () => {
  const Nullable = Type.Object({ who: Type.Union([Type.Object({ id: Type.String() }), Type.Null()]) });

  it('explains a nullable object by its own error, at the deeper field', () => {
    expect(explain(Nullable, { who: { id: 5 } })).toEqual({ path: '/who/id', message: 'Expected string' });
  });

  it("lists what a union accepts when no member has the value's type", () => {
    expect(explain(Nullable, { who: 'me' })).toEqual({ path: '/who', message: 'expected an object or null' });
    expect(explain(Type.Union([Type.String(), Type.Integer(), Type.Boolean()]), [])).toMatchObject({
      message: 'expected a string, a number or a boolean',
    });
  });

  it('lists literal members by their values', () => {
    const Kind = Type.Union([Type.Literal('set'), Type.Literal('add')]);
    expect(explain(Kind, 'drop')).toEqual({ path: '', message: 'expected "set" or "add"' });
  });

  it('says what a union states it expects, when it states it', () => {
    const When = Type.Union([Type.String(), Type.Number()], { [EXPECTED]: 'a date-time or epoch milliseconds' });
    expect(explain(When, true)).toEqual({ path: '', message: 'expected a date-time or epoch milliseconds' });
  });

  it('follows nested unions down to the field that is wrong', () => {
    const Moment = Type.Union([Type.String(), Type.Number(), Type.Null()], { [EXPECTED]: 'a date-time' });
    const Time = Type.Union([Type.String(), Type.Object({ create: Type.Optional(Moment) })], {
      [EXPECTED]: 'a date-time or {create}',
    });
    expect(explain(Type.Object({ time: Time }), { time: { create: true } })).toEqual({
      path: '/time/create',
      message: 'expected a date-time',
    });
    expect(explain(Type.Object({ time: Time }), { time: false })).toEqual({
      path: '/time',
      message: 'expected a date-time or {create}',
    });
  });

  it('leaves errors that are not unions as TypeBox words them', () => {
    expect(explain(Type.Object({ n: Type.Integer({ minimum: 1 }) }), { n: 0 })).toMatchObject({
      path: '/n',
      message: expect.stringContaining('1'),
    });
  });

  it('never answers "Expected union value"', () => {
    const Deep = Type.Object({
      a: Type.Union([Type.Array(Type.String()), Type.Null()]),
      b: Type.Optional(Type.Union([Type.Literal(1), Type.Literal('1')])),
    });
    for (const value of [{ a: 1 }, { a: [1] }, { a: null, b: 2 }, { a: null, b: {} }]) {
      expect(explain(Deep, value).message).not.toMatch(/union/i);
    }
  });
});
